/**
 * Redis itself fails while a holder refreshes: it stops serving for longer than lockTtlMs (CLIENT
 * PAUSE), or restarts, with or without persistence. The holder was not away; Redis was. Then no
 * other member takes the lock over: the holder keeps it (renews, or takes it back), stores its
 * tokens once Redis answers again, and the others adopt them. One call, nothing lost.
 */
import Redis from 'ioredis';
import { type Member, OLD, redisMembers, sleep, until } from '../helpers/redis-members.js';
import { closeClient, type RedisServer, startRedisServer } from '../helpers/redis-server.js';

jest.setTimeout(30_000);

let server: RedisServer;
const clients: Redis[] = [];

const connect = () => {
  const client = new Redis(server.port, '127.0.0.1', { disconnectTimeout: 200 });
  client.on('error', () => {});
  clients.push(client);
  return client;
};
const members = redisMembers(connect);

afterEach(async () => {
  members.cleanup();
  await Promise.all(clients.splice(0).map((client) => closeClient(client)));
  await server?.close();
});

const A_TOKENS = { accessToken: 'access-A', refreshToken: 'refresh-A' };

/** A holds the lock with its refresh call open; B's request is queued behind it. */
async function holderAndWaiter(lockTtlMs: number) {
  const scope = await members.scope(lockTtlMs);
  const { a, b } = scope;
  const first = a.api.get('/me');
  await until(() => a.calls.length === 1, "A's refresh call");
  const second = b.api.get('/me');
  // B has queued for the lock (its ticket is in the queue).
  await until(
    async () => (await scope.seed.zcard(`${scope.key}:queue`)) === 1,
    "B's place in the queue",
  );
  return { ...scope, first, second };
}

/** A answers; both requests end with A's tokens, which the store holds; A made the only call. */
async function expectOneRotation(
  {
    a,
    b,
    first,
    second,
  }: { a: Member; b: Member; first: Promise<unknown>; second: Promise<unknown> },
  check: () => Promise<unknown>,
) {
  a.calls[0]?.answer.resolve(A_TOKENS);
  await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-A' } });
  await expect(second).resolves.toMatchObject({ data: { auth: 'Bearer access-A' } });
  expect(a.calls).toHaveLength(1);
  expect(b.calls).toHaveLength(0);
  expect(a.failures).toEqual([]);
  expect(b.failures).toEqual([]);
  expect(await check()).toEqual(A_TOKENS);
}

describe('Redis stopped serving for longer than lockTtlMs while the holder refreshes', () => {
  it('a gap in its record (no command for over lockTtlMs / 2) and the lock gone: the next member does not take it over; the holder takes it back and stores', async () => {
    server = await startRedisServer();
    const scope = await holderAndWaiter(600);
    // What Redis is left with after a pause longer than the lock's life: the lock expired, its
    // lease is over, and the scope's last command is long ago (nobody could renew).
    await scope.seed.del(`${scope.key}:lock`);
    await scope.seed.hset(`${scope.key}:live`, 't', 0, 'l', 0);
    // A renews within lockTtlMs / 3 and takes its lock back; B, polling meanwhile, does not.
    await until(async () => (await scope.seed.get(`${scope.key}:lock`)) !== null, 'the lock held');
    await sleep(300);
    expect(scope.b.calls).toHaveLength(0);
    expect(scope.a.calls[0]?.ctx.signal.aborted).toBe(false);
    await expectOneRotation(scope, () => members.stored(scope.seed, scope.key));
  });

  it.each([1, 2, 3])(
    'a real CLIENT PAUSE of 2 × lockTtlMs (run %i): the waiter does not take over; one rotation',
    async () => {
      server = await startRedisServer();
      const scope = await holderAndWaiter(600);
      const control = connect();
      await control.call('CLIENT', 'PAUSE', '1200', 'ALL');
      await sleep(1_500);
      // Redis serves again: each member's queued commands have run.
      await Promise.all([scope.a.client.ping(), scope.b.client.ping()]);
      await sleep(200);
      expect(scope.b.calls).toHaveLength(0);
      expect(scope.a.calls[0]?.ctx.signal.aborted).toBe(false);
      expect(await scope.seed.get(`${scope.key}:lock`)).toMatch(/.+/);
      await expectOneRotation(scope, () => members.stored(scope.seed, scope.key));
    },
  );
});

describe('redis-server restarted while the holder refreshes, its answer coming while Redis is down', () => {
  it.each([
    ['with persistence (appendonly): the lock survives', true],
    ['without persistence: every key is lost, tokens included', false],
  ])(
    '%s; the holder stores once Redis is back, the waiter adopts: one rotation',
    async (_, persistence) => {
      server = await startRedisServer({ persistence });
      const scope = await holderAndWaiter(1_500);
      await server.stop();
      // The provider answers while Redis is down: the only copy of the new tokens is A's.
      scope.a.calls[0]?.answer.resolve(A_TOKENS);
      await sleep(300);
      await server.restart();
      const seed = connect();
      await expectOneRotation(scope, () => members.stored(seed, scope.key));
    },
  );

  it('restarted without persistence while nobody refreshed, every key lost: at the next expiry one member refreshes with the refresh token they all hold, the others adopt', async () => {
    server = await startRedisServer();
    const scope = await members.scope(600);
    const { a, b } = scope;
    // Both have read the tokens (a request each that needs no refresh would do; a read does).
    await Promise.all([a.gate.getAccessToken(), b.gate.getAccessToken()]);
    await server.stop();
    await server.restart();
    const seed = connect();
    await until(
      async () => (await seed.dbsize()) === 0 && a.client.status === 'ready',
      'Redis back, empty',
    );
    await until(() => b.client.status === 'ready', 'B reconnected');
    const first = a.api.get('/me');
    await until(() => a.calls.length === 1, "A's refresh call");
    expect(a.calls[0]?.ctx.tokens).toEqual(OLD);
    const second = b.api.get('/me');
    await expectOneRotation({ a, b, first, second }, () => members.stored(seed, scope.key));
  });

  it('Redis down for longer than lockTtlMs: both fail with RedisUnavailableError within the bound, nothing hangs', async () => {
    server = await startRedisServer();
    const scope = await holderAndWaiter(500);
    await server.stop();
    scope.a.calls[0]?.answer.resolve(A_TOKENS);
    const started = Date.now();
    const [first, second] = await Promise.allSettled([scope.first, scope.second]);
    expect(first).toMatchObject({ status: 'rejected', reason: { name: 'RedisUnavailableError' } });
    expect(second).toMatchObject({ status: 'rejected', reason: { name: 'RedisUnavailableError' } });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(scope.a.gate.state.waiting).toBe(0);
    expect(scope.b.gate.state.waiting).toBe(0);
  });
});
