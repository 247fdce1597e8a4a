/**
 * Redis stops in the middle of a run: requests fail with a clear error within the timeouts, and
 * nothing hangs (no waiter left, every request settled), whatever the client (ioredis, node-redis
 * 6 and 4) and its offline-queue options; once Redis is back, the same client works again.
 */
import { Agent } from 'node:http';
import axios, { type AxiosInstance } from 'axios';
import type { RedisOptions } from 'ioredis';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { login, refreshTokens } from '../../examples/storm.js';
import { attachRefreshGate, isRefreshGateError, type RefreshGate } from '../../src/index.js';
import { redisCoordinator, redisStore } from '../../src/redis/index.js';
import { type ClientKind, clientKinds, nodeRedisKinds, waitFor } from '../helpers/redis-clients.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';

jest.setTimeout(30_000);

let redis: RedisServer;
let auth: AuthServer;
let agent: Agent;
let cleanups: Array<() => unknown> = [];

beforeEach(async () => {
  redis = await startRedisServer();
  auth = await startAuthServer({ port: 0 });
  agent = new Agent({ keepAlive: true });
});

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
  agent.destroy();
  await auth.close();
  await redis.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const REFRESH_TIMEOUT_MS = 3_000;
const QUEUE_TIMEOUT_MS = 6_000;
const COOLDOWN_MS = 200;

const [ioredis] = clientKinds as [ClientKind];

async function setup(kind: ClientKind, options: object) {
  const client = await kind.connect(redis, options);
  cleanups.push(() => kind.close(client));
  const key = 'fleet:down';
  const store = redisStore({ client, key });
  const coordinator = redisCoordinator({ client, key, lockTtlMs: 1_000 });
  const api: AxiosInstance = axios.create({ baseURL: auth.url, httpAgent: agent });
  const gate: RefreshGate = attachRefreshGate(api, {
    refresh: ({ tokens, signal }) => refreshTokens(auth.url, tokens?.refreshToken, signal),
    store,
    coordinator,
    refreshTimeoutMs: REFRESH_TIMEOUT_MS,
    queueTimeoutMs: QUEUE_TIMEOUT_MS,
    // Short, so that the token the healthy run obtained is no longer young when the outage run
    // starts (a 401 on a young token is the loop guard's, not a refresh).
    cooldownMs: COOLDOWN_MS,
    logger: { debug: () => {}, warn: () => {} },
  });
  cleanups.push(() => coordinator.dispose?.());
  cleanups.push(() => gate.destroy());
  await gate.setTokens(await login(auth.url));
  return { client, store, api, gate };
}

async function storm(api: AxiosInstance, n: number) {
  const started = Date.now();
  const results = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => api.get(`/api/items/${i}`)),
  );
  return { results, ms: Date.now() - started };
}

const clientOptions: Array<[string, RedisOptions]> = [
  ['ioredis defaults (offline queue, 20 retries per request)', {}],
  [
    'enableOfflineQueue: false, maxRetriesPerRequest: 1',
    { enableOfflineQueue: false, maxRetriesPerRequest: 1 },
  ],
];

describe.each(clientOptions)('with %s', (_, options) => {
  it('works while Redis is up, then fails with a clear error within the timeouts once it is stopped', async () => {
    const { client, api, gate } = await setup(ioredis, options);
    auth.expireAll();
    const healthy = await storm(api, 20);
    expect(healthy.results.every((result) => result.status === 'fulfilled')).toBe(true);
    expect(auth.stats.refreshSuccesses).toBe(1);

    await sleep(COOLDOWN_MS);
    await redis.stop();
    while (ioredis.ready(client)) await sleep(5);
    auth.expireAll();
    auth.resetStats();
    const down = await storm(api, 20);

    expect(down.results.every((result) => result.status === 'rejected')).toBe(true);
    const errors = down.results.map((result) => (result as PromiseRejectedResult).reason as Error);
    // With ioredis' offline queue on (its default), a command issued while the client is between
    // two reconnect attempts ('connecting') waits in that queue: then the refresh ends with
    // REFRESH_TIMEOUT, a clear error within the timeout, and nothing hangs. Otherwise requests that
    // waited for the refresh share its failure, and those whose 401 came back after it reject with
    // COOLDOWN, whose cause is that failure.
    const offlineQueue = options.enableOfflineQueue !== false;
    const timedOut = errors.filter(
      (error) => isRefreshGateError(error) && error.code === 'REFRESH_TIMEOUT',
    );
    if (!offlineQueue) expect(timedOut).toEqual([]);
    const failed = errors.filter((error) => !timedOut.includes(error));
    const failures = failed.map((error) => (isRefreshGateError(error) ? error.cause : error));
    for (const [i, error] of failed.entries()) {
      if (isRefreshGateError(error)) expect(error.code).toBe('COOLDOWN');
      expect(failures[i]).toMatchObject({ name: 'RedisUnavailableError' });
    }
    const failure = (failures[0] ?? timedOut[0]) as Error;
    if (failures.length > 0) {
      expect(failure.message).toMatch(
        /^Redis is unavailable \(connection (reconnecting|connecting|close|end)[^)]*\); taking the refresh lock failed\. Check the connection/,
      );
    }
    // No refresh ran: the lock was never had, so the rotating token was not spent.
    expect(auth.stats.refreshCalls).toBe(0);
    expect(down.ms).toBeLessThan(timedOut.length > 0 ? REFRESH_TIMEOUT_MS * 3 : REFRESH_TIMEOUT_MS);
    expect(gate.state.waiting).toBe(0);
    console.log(
      `redis down (${_}): 20 requests failed in ${down.ms} ms (${new Set(failures).size} refresh attempt(s)): ${failure.message}`,
    );
  });
});

describe.each(
  nodeRedisKinds.flatMap((kind) => [
    [`${kind.name} defaults (offline queue)`, kind, {}],
    [`${kind.name} with disableOfflineQueue: true`, kind, kind.withoutOfflineQueue],
  ]) as Array<[string, ClientKind, object]>,
)('with %s', (_, kind, options) => {
  it('works while Redis is up, then fails at once with a clear error naming node-redis once it is stopped, and works again once it is back', async () => {
    const { client, api, gate } = await setup(kind, options);
    auth.expireAll();
    const healthy = await storm(api, 20);
    expect(healthy.results.every((result) => result.status === 'fulfilled')).toBe(true);
    expect(auth.stats.refreshSuccesses).toBe(1);

    await sleep(COOLDOWN_MS);
    await redis.stop();
    await waitFor(() => !kind.ready(client), 'the client noticed');
    auth.expireAll();
    auth.resetStats();
    const down = await storm(api, 20);

    expect(down.results.every((result) => result.status === 'rejected')).toBe(true);
    const errors = down.results.map((result) => (result as PromiseRejectedResult).reason as Error);
    // node-redis reports isReady: false from the moment the connection is lost, whatever its
    // offline queue, so no command waits in that queue and no refresh times out.
    expect(
      errors.filter((error) => isRefreshGateError(error) && error.code === 'REFRESH_TIMEOUT'),
    ).toEqual([]);
    const failures = errors.map((error) => (isRefreshGateError(error) ? error.cause : error));
    for (const [i, error] of errors.entries()) {
      if (isRefreshGateError(error)) expect(error.code).toBe('COOLDOWN');
      expect(failures[i]).toMatchObject({ name: 'RedisUnavailableError' });
    }
    const failure = failures[0] as Error;
    expect(failure.message).toBe(
      'Redis is unavailable (connection reconnecting); taking the refresh lock failed. ' +
        'Check the connection of the node-redis client given to axios-refresh-gate.',
    );
    expect(auth.stats.refreshCalls).toBe(0);
    expect(down.ms).toBeLessThan(REFRESH_TIMEOUT_MS);
    expect(gate.state.waiting).toBe(0);
    console.log(`redis down (${_}): 20 requests failed in ${down.ms} ms: ${failure.message}`);

    // Back: the same client reconnects by itself; after a login (Redis restarted empty), the gate
    // refreshes through it again: one refresh for the whole storm.
    await redis.restart();
    await waitFor(() => kind.ready(client), 'the client reconnected', 10_000);
    await gate.setTokens(await login(auth.url));
    await sleep(COOLDOWN_MS);
    auth.expireAll();
    auth.resetStats();
    const back = await storm(api, 20);
    expect(back.results.every((result) => result.status === 'fulfilled')).toBe(true);
    expect(auth.stats.refreshSuccesses).toBe(1);
  });
});

describe.each(clientKinds)('on $name', (kind) => {
  it('Redis stops while the lock is held: the refresh fails within refreshTimeoutMs, nothing hangs, and it works again once Redis is back, its store hearing other processes again', async () => {
    const { client, store, api, gate } = await setup(kind, {});
    auth.expireAll();
    auth.resetStats();
    auth.knobs.refreshLatencyMs = 300;
    const running = storm(api, 20);
    while (auth.stats.refreshCalls === 0) await sleep(5);
    await redis.stop();

    const { results, ms } = await running;
    expect(results.every((result) => result.status === 'rejected')).toBe(true);
    const error = (results[0] as PromiseRejectedResult).reason as Error;
    // The refresh answered, but its tokens could not be stored in Redis.
    expect(error).toMatchObject({ name: 'RedisUnavailableError' });
    expect(error.message).toMatch(/storing the tokens/);
    expect(error.message).toContain(`the ${kind.library} client`);
    expect(ms).toBeLessThan(REFRESH_TIMEOUT_MS + 1_000);
    expect(gate.state.waiting).toBe(0);
    console.log(
      `redis down mid-refresh (${kind.name}): 20 requests failed in ${ms} ms: ${error.message}`,
    );

    // Back: the same client reconnects; after a login the gate works again.
    await redis.restart();
    await waitFor(() => kind.ready(client), 'the client reconnected', 10_000);
    auth.knobs.refreshLatencyMs = 0;
    await gate.setTokens(await login(auth.url));
    await expect(api.get('/api/after')).resolves.toMatchObject({ status: 200 });

    // And the store's subscriber, made before the outage, hears another process again.
    const heard: unknown[] = [];
    cleanups.push(store.subscribe!((tokens) => heard.push(tokens)));
    const other = await kind.connect(redis);
    cleanups.push(() => kind.close(other));
    await waitFor(
      async () => (await kind.raw(other).numsub('fleet:down:changed')) === 1,
      'the subscriber subscribed again',
      10_000,
    );
    await redisStore({ client: other, key: 'fleet:down' }).set({ accessToken: 'from-another' });
    await waitFor(() => heard.length === 1, 'the change heard');
    expect(heard).toEqual([{ accessToken: 'from-another' }]);
    await expect(gate.getAccessToken()).resolves.toBe('from-another');
  });
});
