/**
 * A holder that loses its Redis lock (the key expired while it was paused, or was deleted) is told
 * at once: its refresh is aborted with LOCK_LOST, its tokens are written only while the lock is
 * still its own (a fenced write), and its gate then waits for the lock again and takes the tokens
 * the new holder stored. Two gates with their own clients behave as two processes.
 */
import axios, { CanceledError } from 'axios';
import MockAdapter from 'axios-mock-adapter';
import {
  type Coordinator,
  createRefreshGate,
  type HeldLock,
  type RefreshContext,
  type RefreshGate,
  RefreshGateError,
  type Tokens,
} from '../../src/index.js';
import { redisCoordinator, redisStore } from '../../src/redis/index.js';
import { type Deferred, deferred } from '../helpers/deferred.js';
import { type ClientKind, clientKinds, clientPool } from '../helpers/redis-clients.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
const gates: RefreshGate[] = [];
const coordinators: Array<{ dispose?(): void }> = [];
let scopes = 0;

beforeAll(async () => {
  server = await startRedisServer();
});

afterEach(async () => {
  for (const gate of gates.splice(0)) gate.destroy();
  // Passed in, so the gate does not own it: its subscriber connection is closed here.
  for (const coordinator of coordinators.splice(0)) coordinator.dispose?.();
});

afterAll(async () => {
  await server?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 3_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const OLD: Tokens = { accessToken: 'access-0', refreshToken: 'refresh-0' };

describe.each(clientKinds)('on $name', (kind) => {
  const clients = clientPool(kind);
  afterAll(() => clients.closeAll());
  const connect = () => clients.connect(server);

  /**
   * One "process": its own client, coordinator, store, gate and API answering 401 to OLD. With
   * `onAbort`, its refresh honours ctx.signal: it rejects with what `onAbort` returns once aborted.
   */
  async function member(key: string, lockTtlMs: number, onAbort?: () => unknown) {
    const client = await connect();
    const calls: Array<{ ctx: RefreshContext; answer: Deferred<Tokens> }> = [];
    const failures: unknown[] = [];
    const api = axios.create({ baseURL: 'https://api.test' });
    new MockAdapter(api).onGet('/me').reply((config) => {
      const auth = String(config.headers?.Authorization ?? '');
      return auth === `Bearer ${OLD.accessToken}` ? [401] : [200, { auth }];
    });
    const coordinator = redisCoordinator({ client, key, lockTtlMs });
    coordinators.push(coordinator);
    const gate = createRefreshGate({
      refresh: (ctx) => {
        const answer = deferred<Tokens>();
        calls.push({ ctx, answer });
        if (onAbort) {
          ctx.signal.addEventListener('abort', () => answer.reject(onAbort()), { once: true });
        }
        return answer.promise;
      },
      store: redisStore({ client, key: `${key}:tokens` }),
      coordinator,
      refreshTimeoutMs: 10_000,
      queueTimeoutMs: 10_000,
      onRefreshFailed: (error) => failures.push(error),
      logger: { debug() {}, warn() {} },
    });
    gate.attach(api);
    gates.push(gate);
    return { client, api, gate, calls, failures };
  }

  async function scope(lockTtlMs: number, onAbort?: () => unknown) {
    const key = `fence:${++scopes}`;
    const seed = kind.raw(await connect());
    await seed.set(`${key}:tokens`, JSON.stringify(OLD));
    const a = await member(key, lockTtlMs, onAbort);
    const b = await member(key, lockTtlMs);
    return { key, seed, a, b };
  }

  /**
   * What Redis holds once the holder was away (paused, cut off) past its lease while Redis served
   * the scope: the lock gone, the lease (l) over, no gap since long (s). The next member in line
   * takes it over at once. (Deleting the key alone is not enough: the holder's lease runs on.)
   */
  async function lockTakeable(seed: ReturnType<ClientKind['raw']>, key: string) {
    await seed.del(`${key}:lock`);
    await seed.sendCommand(['HSET', `${key}:live`, 's', '0', 'l', '0']);
  }

  const stored = async (seed: ReturnType<ClientKind['raw']>, key: string) =>
    JSON.parse((await seed.get(`${key}:tokens`)) ?? 'null') as Tokens | null;

  describe('the holder loses its lock while it refreshes', () => {
    it("another process takes it: the holder's refresh is aborted with LOCK_LOST at its next renewal, and it takes the new holder's tokens", async () => {
      // Renewal every second: B takes the lock well before A renews.
      const { key, seed, a, b } = await scope(3_000);
      const first = a.api.get('/me');
      await until(() => a.calls.length === 1, "A's refresh call");
      const signal = a.calls[0]?.ctx.signal as AbortSignal;

      await lockTakeable(seed, key);
      // B, with the same expired token, gets the lock and rotates.
      const second = b.api.get('/me');
      await until(() => b.calls.length === 1, "B's refresh call");
      await until(() => signal.aborted, "A's refresh aborted", 2_000);
      expect(signal.reason).toMatchObject({ name: 'RefreshGateError', code: 'LOCK_LOST' });

      b.calls[0]?.answer.resolve({ accessToken: 'access-B', refreshToken: 'refresh-B' });
      await expect(second).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
      // A's late answer is never stored; A's request is replayed with B's tokens.
      a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
      await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
      expect(await stored(seed, key)).toEqual({
        accessToken: 'access-B',
        refreshToken: 'refresh-B',
      });
      expect(a.calls).toHaveLength(1);
      expect(b.calls).toHaveLength(1);
      expect(a.gate.state).toMatchObject({ status: 'idle', failures: 0 });
    });

    it('its key deleted while its lease runs: the next member waits for the lease; the holder takes the lock back at its renewal (one rotation)', async () => {
      const { key, seed, a, b } = await scope(600);
      const first = a.api.get('/me');
      await until(() => a.calls.length === 1, "A's refresh call");
      const second = b.api.get('/me');
      await until(
        async () => (await seed.sendCommand(['ZCARD', `${key}:queue`])) === 1,
        'B queued',
      );
      // Redis has served the scope for over lockTtlMs / 2: only the lease keeps B from taking over.
      await sleep(400);
      await seed.del(`${key}:lock`);
      await until(async () => (await seed.get(`${key}:lock`)) !== null, 'the lock taken again');
      await sleep(700);
      expect(b.calls).toHaveLength(0);
      expect(a.calls[0]?.ctx.signal.aborted).toBe(false);
      a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
      await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-A' } });
      await expect(second).resolves.toMatchObject({ data: { auth: 'Bearer access-A' } });
      expect(b.calls).toHaveLength(0);
      expect(await stored(seed, key)).toEqual({
        accessToken: 'access-A',
        refreshToken: 'refresh-A',
      });
    });

    it('its key deleted, nobody else waiting: the holder takes the lock back at its renewal and completes (one rotation)', async () => {
      const { key, seed, a } = await scope(300);
      const first = a.api.get('/me');
      await until(() => a.calls.length === 1, "A's refresh call");
      await seed.del(`${key}:lock`);
      await until(async () => (await seed.get(`${key}:lock`)) !== null, 'the lock taken back');
      expect(a.calls[0]?.ctx.signal.aborted).toBe(false);
      a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
      await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-A' } });
      expect(await stored(seed, key)).toEqual({
        accessToken: 'access-A',
        refreshToken: 'refresh-A',
      });
      expect(a.calls).toHaveLength(1);
    });

    it('Redis lost every key (a restart without persistence): nobody can have taken the lock since, so the holder stores its result (no second call)', async () => {
      const { key, seed, a } = await scope(30_000);
      const first = a.api.get('/me');
      await until(() => a.calls.length === 1, "A's refresh call");
      await seed.flushall();
      a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
      await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-A' } });
      expect(a.calls).toHaveLength(1);
      expect(await stored(seed, key)).toEqual({
        accessToken: 'access-A',
        refreshToken: 'refresh-A',
      });
    });

    it('a holder whose refresh returns after it lost the lock, before any renewal told it: the fenced write refuses its tokens', async () => {
      // A long TTL: no renewal runs during the test; only the fenced write can notice.
      const { key, seed, a, b } = await scope(30_000);
      const first = a.api.get('/me');
      await until(() => a.calls.length === 1, "A's refresh call");
      await lockTakeable(seed, key);
      const second = b.api.get('/me');
      await until(() => b.calls.length === 1, "B's refresh call");

      // A answers while B holds the lock: its write is refused.
      a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
      await sleep(100);
      expect(await stored(seed, key)).toEqual(OLD);

      b.calls[0]?.answer.resolve({ accessToken: 'access-B', refreshToken: 'refresh-B' });
      await expect(second).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
      // A waited for the lock again, double-checked and took B's tokens: no second call of its own.
      await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
      expect(a.calls).toHaveLength(1);
      expect(await stored(seed, key)).toEqual({
        accessToken: 'access-B',
        refreshToken: 'refresh-B',
      });
      expect(a.gate.state).toMatchObject({ status: 'idle', failures: 0 });
    });

    it('the lock lost between taking it and the refresh call (a pause): the call is never made, the lock is confirmed first', async () => {
      const { key, seed, a, b } = await scope(30_000);
      // A's double-check read under the lock stalls, as a process paused right after the grant.
      // (The store reads with the client's own `get`, on either library.)
      const client = a.client as unknown as { get(key: string): Promise<string | null> };
      const read = client.get.bind(client);
      const stall = deferred<void>();
      let stalled = false;
      client.get = async (name: string) => {
        if (!stalled && (await seed.get(`${key}:lock`)) !== null) {
          stalled = true;
          await stall.promise;
        }
        return read(name);
      };
      const first = a.api.get('/me');
      await until(() => stalled, "A's double-check under the lock");
      // Meanwhile its lock expires and B takes over.
      await lockTakeable(seed, key);
      const second = b.api.get('/me');
      await until(() => b.calls.length === 1, "B's refresh call");
      stall.resolve();
      await sleep(100);
      // A confirmed its lock before calling, found it gone, and queued behind B.
      expect(a.calls).toHaveLength(0);
      b.calls[0]?.answer.resolve({ accessToken: 'access-B', refreshToken: 'refresh-B' });
      await expect(second).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
      await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
      expect(a.calls).toHaveLength(0);
      expect(await stored(seed, key)).toEqual({
        accessToken: 'access-B',
        refreshToken: 'refresh-B',
      });
    });

    it('a member queued behind the holder takes its tokens after it: no call of its own', async () => {
      const { key, seed, a, b } = await scope(30_000);
      // B holds the lock (its refresh open); A queues behind it.
      const second = b.api.get('/me');
      await until(() => b.calls.length === 1, "B's refresh call");
      const first = a.api.get('/me');
      await sleep(50);
      expect(a.calls).toHaveLength(0);
      b.calls[0]?.answer.resolve({ accessToken: 'access-B', refreshToken: 'refresh-B' });
      await expect(second).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
      // A got the lock after B and adopted B's tokens without a call.
      await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
      expect(a.calls).toHaveLength(0);
      expect(await stored(seed, key)).toEqual({
        accessToken: 'access-B',
        refreshToken: 'refresh-B',
      });
    });
  });

  describe('a refresh that honours ctx.signal, when the lock is lost mid-refresh', () => {
    it.each<[string, () => unknown]>([
      ['an axios CanceledError', () => new CanceledError()],
      [
        'a DOMException AbortError',
        () => new DOMException('This operation was aborted', 'AbortError'),
      ],
    ])(
      "rejecting with %s is the lost lock, not a failure: the holder takes the new holder's tokens",
      async (_name, abortError) => {
        const { key, seed, a, b } = await scope(3_000, abortError);
        const first = a.api.get('/me');
        // Settled later; held here so a rejection is reported by the assertion, not as unhandled.
        first.catch(() => {});
        await until(() => a.calls.length === 1, "A's refresh call");
        const signal = a.calls[0]?.ctx.signal as AbortSignal;

        await lockTakeable(seed, key);
        const second = b.api.get('/me');
        await until(() => b.calls.length === 1, "B's refresh call");
        // A's refresh rejects with its abort as soon as the renewal finds the lock gone.
        await until(() => signal.aborted, "A's refresh aborted", 2_000);
        await sleep(50);

        b.calls[0]?.answer.resolve({ accessToken: 'access-B', refreshToken: 'refresh-B' });
        await expect(second).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
        await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
        expect(await stored(seed, key)).toEqual({
          accessToken: 'access-B',
          refreshToken: 'refresh-B',
        });
        expect(a.calls).toHaveLength(1);
        expect(a.gate.state).toMatchObject({ status: 'idle', failures: 0 });
        expect(a.failures).toEqual([]);
      },
    );
  });

  describe('a setTokens() made later by a refresh:success listener, after the refresh released the lock', () => {
    const LOGIN: Tokens = { accessToken: 'access-login', refreshToken: 'refresh-login' };

    /**
     * A refreshes, and its listener calls setTokens(LOGIN) once `go` resolves (a timer, an await
     * chain) started then. Resolves once A's request succeeded, with `written`: the later setTokens' outcome.
     */
    async function refreshedWithLateWrite(
      a: Awaited<ReturnType<typeof member>>,
      go: () => Promise<unknown>,
    ) {
      const later = deferred<PromiseSettledResult<void>>();
      a.gate.on('refresh:success', () => {
        void go().then(async () =>
          later.resolve((await Promise.allSettled([a.gate.setTokens(LOGIN)]))[0]),
        );
      });
      const first = a.api.get('/me');
      await until(() => a.calls.length === 1, "A's refresh call");
      a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
      await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-A' } });
      return { written: later.promise };
    }

    it('nobody else holds the lock: the write is a plain one and does not take the lock back', async () => {
      const { key, seed, a } = await scope(2_000);
      // The listener writes 100 ms after the refresh, on a timer.
      const { written } = await refreshedWithLateWrite(a, () => sleep(100));
      await until(async () => (await seed.get(`${key}:lock`)) === null, 'the lock released');
      expect(await written).toEqual({ status: 'fulfilled', value: undefined });
      expect(await stored(seed, key)).toEqual(LOGIN);
      // Nobody is left holding the lock: not re-taken (for lockTtlMs) by the late write.
      expect(await seed.get(`${key}:lock`)).toBeNull();
      await sleep(50);
      expect(await seed.get(`${key}:lock`)).toBeNull();
    });

    it('another process took the lock meanwhile: the write resolves and its tokens are stored, never LOCK_LOST', async () => {
      const { key, seed, a, b } = await scope(30_000);
      const go = deferred<void>();
      const { written } = await refreshedWithLateWrite(a, () => go.promise);
      await until(async () => (await seed.get(`${key}:lock`)) === null, 'the lock released');
      // B takes the lock (a manual refresh) before A's listener writes.
      const manual = b.gate.refresh();
      manual.catch(() => {});
      await until(() => b.calls.length === 1, "B's refresh call");
      expect(await seed.get(`${key}:lock`)).not.toBeNull();

      go.resolve();
      // Not fenced by B's lock (A's refresh is over): it resolves, never LOCK_LOST.
      expect(await written).toEqual({ status: 'fulfilled', value: undefined });
      expect(await stored(seed, key)).toEqual(LOGIN);
      b.calls[0]?.answer.resolve({ accessToken: 'access-B', refreshToken: 'refresh-B' });
      await Promise.allSettled([manual]);
    });
  });
});

describe('a custom coordinator', () => {
  const TOKENS: Tokens = { accessToken: 'access-1', refreshToken: 'refresh-1' };

  function gateWith(coordinator: Coordinator) {
    coordinators.push(coordinator);
    const gate = createRefreshGate({
      refresh: async () => TOKENS,
      coordinator,
      refreshTimeoutMs: 1_000,
      logger: { debug() {}, warn() {} },
    });
    gates.push(gate);
    return gate;
  }

  it('whose runExclusive always rejects LOCK_LOST without running fn: the refresh rejects promptly, after a bounded number of tries', async () => {
    let tries = 0;
    const gate = gateWith({
      async runExclusive() {
        tries++;
        // A macrotask per try: an unbounded retry loop fails the test instead of starving it.
        await sleep(1);
        throw new RefreshGateError('LOCK_LOST', 'the lock was lost');
      },
    });
    const started = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      gate.refresh().then(
        () => 'resolved',
        () => 'rejected',
      ),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve('still pending'), 500);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(outcome).toBe('rejected');
    expect(Date.now() - started).toBeLessThan(500);
    expect(tries).toBeGreaterThanOrEqual(1);
    expect(tries).toBeLessThanOrEqual(3);
  });

  it('passing fn a lock whose confirm is not a function: the refresh runs normally', async () => {
    const lock = { signal: new AbortController().signal, confirm: 5 } as unknown as HeldLock;
    const gate = gateWith({ runExclusive: (fn) => fn(lock) });
    await expect(gate.refresh()).resolves.toEqual(TOKENS);
  });
});
