import { isRefreshGateError, RefreshGateError, type Tokens } from '../../src/index.js';
import {
  type RedisCoordinatorOptions,
  type RedisStoreOptions,
  redisCoordinator,
  redisStore,
} from '../../src/redis/index.js';
import { coordinatorContract } from '../helpers/coordinator-contract.js';
import { deferred } from '../helpers/deferred.js';
import { type Client, clientKinds, clientPool } from '../helpers/redis-clients.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let scopes = 0;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(clientKinds)('on $name', (kind) => {
  const clients = clientPool(kind);
  let one: Client;
  let two: Client;

  beforeAll(async () => {
    one = await clients.connect(server);
    two = await clients.connect(server);
  });

  afterAll(() => clients.closeAll());

  // Two clients, two connections: the two members of one scope behave like two processes.
  let key = '';
  coordinatorContract(
    `redisCoordinator (${kind.name})`,
    () => {
      key = `contract:${++scopes}`;
      return redisCoordinator({ client: one, key });
    },
    {
      peer: () => redisCoordinator({ client: two, key }),
      // Both connections answer in order: once PING returns, every command sent before it ran.
      // The pause lets a new subscriber connection finish subscribing.
      settle: async () => {
        await Promise.all([kind.raw(one).ping(), kind.raw(two).ping()]);
        await sleep(30);
        await Promise.all([kind.raw(one).ping(), kind.raw(two).ping()]);
      },
      shortTimeoutMs: 100,
    },
  );

  describe('redisCoordinator', () => {
    const made: Array<{ dispose?(): void }> = [];
    afterEach(() => {
      for (const coordinator of made.splice(0)) coordinator.dispose?.();
    });
    const make = (client: Client, scope: string, lockTtlMs?: number) => {
      const coordinator = redisCoordinator(
        lockTtlMs === undefined ? { client, key: scope } : { client, key: scope, lockTtlMs },
      );
      made.push(coordinator);
      return coordinator;
    };
    const free = () => ({ signal: new AbortController().signal, timeoutMs: 0 });

    it('takes the lock with SET NX PX and a unique fencing value, and deletes it afterwards', async () => {
      const scope = `unit:${++scopes}`;
      const coordinator = make(one, scope, 2_000);
      const seen = await coordinator.runExclusive(
        async () => ({
          value: await kind.raw(two).get(`${scope}:lock`),
          ttl: await kind.raw(two).pttl(`${scope}:lock`),
        }),
        free(),
      );
      expect(seen.value).toMatch(/^[0-9a-f-]{36}:1$/);
      expect(seen.ttl).toBeGreaterThan(0);
      expect(seen.ttl).toBeLessThanOrEqual(2_000);
      await kind.raw(two).ping();
      await kind.raw(one).ping();
      expect(await kind.raw(two).exists(`${scope}:lock`)).toBe(0);
      // Nothing else is left behind once nobody waits.
      expect(await kind.raw(two).exists(`${scope}:queue`, `${scope}:alive`)).toBe(0);
    });

    it('releases only its own lock: a holder whose lock expired and was taken does not delete the new one', async () => {
      const scope = `unit:${++scopes}`;
      const coordinator = make(one, scope, 200);
      const held = deferred<void>();
      let renewalsStopped = false;
      const holding = coordinator.runExclusive(async () => {
        // Simulate a lost lock: someone else's value replaces ours.
        await kind.raw(two).set(`${scope}:lock`, 'someone-else', 10_000);
        renewalsStopped = true;
        await held.promise;
      }, free());
      while (!renewalsStopped) await sleep(5);
      held.resolve();
      await holding;
      await kind.raw(one).ping();
      expect(await kind.raw(two).get(`${scope}:lock`)).toBe('someone-else');
      // The owner's lock still blocks the scope.
      const blocked = make(two, scope).runExclusive(async () => 'never', {
        signal: new AbortController().signal,
        timeoutMs: 150,
      });
      await expect(blocked).rejects.toMatchObject({ code: 'REFRESH_TIMEOUT' });
      await kind.raw(two).del(`${scope}:lock`);
    });

    it('renews the lock while fn runs longer than lockTtlMs', async () => {
      const scope = `unit:${++scopes}`;
      const coordinator = make(one, scope, 150);
      const other = make(two, scope);
      const held = deferred<void>();
      let entered = false;
      const holding = coordinator.runExclusive(async () => {
        entered = true;
        await held.promise;
      }, free());
      while (!entered) await sleep(5);
      // Three TTLs later the live holder still has it.
      await sleep(450);
      expect(await kind.raw(two).get(`${scope}:lock`)).toMatch(/:1$/);
      const waiting = other.runExclusive(async () => 'after', free());
      await sleep(50);
      held.resolve();
      await holding;
      await expect(waiting).resolves.toBe('after');
    });

    it('lets the others proceed after lockTtlMs when the holder died (its lock is left, nobody renews it)', async () => {
      const scope = `unit:${++scopes}`;
      // A dead process's lock: set by hand, never renewed or released.
      await kind.raw(one).set(`${scope}:lock`, 'dead-process:1', 300);
      let entered = false;
      const taking = make(two, scope).runExclusive(
        async () => {
          entered = true;
          return 'took over';
        },
        { signal: new AbortController().signal, timeoutMs: 5_000 },
      );
      await kind.raw(two).ping();
      await sleep(50);
      // While the dead holder's lock lives, nobody gets in.
      expect(await kind.raw(one).pttl(`${scope}:lock`)).toBeGreaterThan(0);
      expect(entered).toBe(false);
      await expect(taking).resolves.toBe('took over');
      await kind.raw(two).ping();
      expect(await kind.raw(one).exists(`${scope}:lock`)).toBe(0);
    });

    it('drops a dead waiter from the queue, so it cannot block the ones behind it', async () => {
      const scope = `unit:${++scopes}`;
      // A waiter whose process died: queued first, with a liveness deadline already passed.
      await kind.raw(one).sendCommand(['ZADD', `${scope}:queue`, '0', 'dead-process:7']);
      await kind.raw(one).sendCommand(['ZADD', `${scope}:alive`, '1', 'dead-process:7']);
      await expect(make(two, scope).runExclusive(async () => 'next', free())).resolves.toBe('next');
    });

    it('hands a lock granted after the caller gave up straight back', async () => {
      const scope = `unit:${++scopes}`;
      const coordinator = make(one, scope);
      const controller = new AbortController();
      const fn = jest.fn(async () => 'never');
      const call = coordinator.runExclusive(fn, { signal: controller.signal, timeoutMs: 0 });
      // Aborted while the first attempt is on its way to Redis.
      controller.abort(new Error('gone'));
      await expect(call).rejects.toThrow('gone');
      await kind.raw(one).ping();
      expect(fn).not.toHaveBeenCalled();
      await expect(make(two, scope).runExclusive(async () => 'free', free())).resolves.toBe('free');
    });

    it('hears tokens published by another process once, and not its own publishes twice', async () => {
      const scope = `unit:${++scopes}`;
      const a = make(one, scope);
      const b = make(two, scope);
      const heardByA: Array<Tokens | null> = [];
      const heardByB: Array<Tokens | null> = [];
      a.subscribe!((tokens) => heardByA.push(tokens));
      b.subscribe!((tokens) => heardByB.push(tokens));
      await sleep(50);
      a.publish!({ accessToken: 'a1', refreshToken: 'r1' });
      while (heardByB.length === 0) await sleep(5);
      await sleep(50);
      expect(heardByA).toEqual([{ accessToken: 'a1', refreshToken: 'r1' }]);
      expect(heardByB).toEqual([{ accessToken: 'a1', refreshToken: 'r1' }]);
      // Garbage on the channel is ignored.
      await kind.raw(one).publish(`${scope}:events`, '{not json');
      await kind
        .raw(one)
        .publish(`${scope}:events`, JSON.stringify({ from: 'x', tokens: { accessToken: 5 } }));
      // So is a token that would inject a header into every request of the process that adopts it.
      await kind
        .raw(one)
        .publish(
          `${scope}:events`,
          JSON.stringify({ from: 'x', tokens: { accessToken: 'abc\r\nX-Evil: 1' } }),
        );
      await kind
        .raw(one)
        .publish(
          `${scope}:events`,
          JSON.stringify({ from: 'x', tokens: { accessToken: 'a', refreshToken: '' } }),
        );
      b.publish!(null);
      while (heardByA.length === 1) await sleep(5);
      expect(heardByA).toEqual([{ accessToken: 'a1', refreshToken: 'r1' }, null]);
    });

    it(`accepts a client of ${kind.name} as it comes, as does the store`, () => {
      const coordinator = make(one, `valid:${++scopes}`);
      expect(typeof coordinator.runExclusive).toBe('function');
      expect(typeof redisStore({ client: one, key: `valid:${scopes}` }).get).toBe('function');
    });

    it('rejects bad options with INVALID_OPTIONS naming the option', () => {
      const failure = (make: () => unknown) => {
        try {
          make();
        } catch (error) {
          expect(error).toBeInstanceOf(RefreshGateError);
          return isRefreshGateError(error) ? [error.code, error.message] : error;
        }
        throw new Error('expected it to throw');
      };
      expect(failure(() => redisCoordinator({ client: one, key: '' }))).toEqual([
        'INVALID_OPTIONS',
        'Expected `key` to be a non-empty string, got `""` (string)',
      ]);
      // The client is not shown: its options may hold a password.
      expect(failure(() => redisCoordinator({ client: {} as Client, key: 'k' }))).toEqual([
        'INVALID_OPTIONS',
        'Expected `client` to be an ioredis or a node-redis client, got `...` (object)',
      ]);
      expect(failure(() => redisCoordinator({ client: one, key: 'k', lockTtlMs: -1 }))).toEqual([
        'INVALID_OPTIONS',
        'Expected `lockTtlMs` to be a finite number >= 100, got `-1` (number)',
      ]);
      expect(
        failure(() => redisCoordinator(undefined as unknown as RedisCoordinatorOptions)),
      ).toEqual([
        'INVALID_OPTIONS',
        'Expected `options` to be an object { client, key } (redisCoordinator), got `undefined` (undefined)',
      ]);
      expect(failure(() => redisStore({ client: one, key: 42 as unknown as string }))).toEqual([
        'INVALID_OPTIONS',
        'Expected `key` to be a non-empty string, got `42` (number)',
      ]);
      expect(failure(() => redisStore(null as unknown as RedisStoreOptions))).toEqual([
        'INVALID_OPTIONS',
        'Expected `options` to be an object { client, key } (redisStore), got `null` (null)',
      ]);
    });

    it('rejects a call after dispose() with DESTROYED, without touching the lock', async () => {
      const scope = `destroyed:${++scopes}`;
      const coordinator = redisCoordinator({ client: one, key: scope });
      coordinator.dispose!();
      const fn = jest.fn(async () => 'ran');
      const error = await coordinator
        .runExclusive(fn, { signal: new AbortController().signal, timeoutMs: 1_000 })
        .catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(RefreshGateError);
      expect(isRefreshGateError(error) && error.code).toBe('DESTROYED');
      expect((error as Error).message).toContain(
        `redisCoordinator (key "${scope}") was disposed of`,
      );
      expect(fn).not.toHaveBeenCalled();
      expect(await kind.raw(one).exists(`${scope}:lock`, `${scope}:queue`)).toBe(0);
    });
  });
});
