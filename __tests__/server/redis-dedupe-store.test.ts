/**
 * Two server instances sharing a real Redis behave as one deduper. Each "instance" is a deduper
 * with its own ioredis connection in front of the one token database (the example auth server,
 * without its own deduper), as two pods of an auth service would be.
 */
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import axios from 'axios';
import Redis from 'ioredis';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { login } from '../../examples/storm.js';
import { isRefreshGateError, RefreshGateError } from '../../src/index.js';
import {
  createRefreshDeduper,
  memoryDedupeStore,
  type RedisDedupeStoreOptions,
  type RefreshDeduper,
  redisDedupeStore,
} from '../../src/server/index.js';
import { closeClient, type RedisServer, startRedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let auth: AuthServer;
let agent: Agent;
let clients: Redis[] = [];
let dedupers: RefreshDeduper[] = [];
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.close();
});

beforeEach(async () => {
  auth = await startAuthServer({ port: 0, refreshLatencyMs: 30 });
  agent = new Agent({ keepAlive: true });
});

afterEach(async () => {
  for (const deduper of dedupers) deduper.dispose();
  await Promise.all(clients.map(closeClient));
  clients = [];
  dedupers = [];
  agent.destroy();
  await auth.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

function connect(): Redis {
  const client = new Redis(redis.port, '127.0.0.1', { disconnectTimeout: 200 });
  client.on('error', () => {});
  clients.push(client);
  return client;
}

/** One server instance: its own Redis connection and deduper, rotating at the token database. */
function instance(prefix: string | null, options: { graceMs?: number } = {}) {
  const store =
    prefix === null ? memoryDedupeStore() : redisDedupeStore({ client: connect(), prefix });
  const deduper = createRefreshDeduper({ ...options, store });
  dedupers.push(deduper);
  return (refreshToken: string) =>
    deduper.dedupe(refreshToken, async () => {
      const { data } = await axios.post(
        `${auth.url}/auth/refresh`,
        { refreshToken },
        { httpAgent: agent },
      );
      return data as { accessToken: string; refreshToken: string };
    });
}

it('two instances sharing a real Redis: 50 racing refreshes split between them → one rotation, one pair', async () => {
  const prefix = `dedupe:${++prefixes}:`;
  const [a, b] = [instance(prefix), instance(prefix)];
  const { refreshToken } = await login(auth.url);
  const pairs = await Promise.all(
    Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b)(refreshToken!)),
  );
  expect(new Set(pairs.map((pair) => JSON.stringify(pair))).size).toBe(1);
  expect(auth.stats).toMatchObject({
    refreshCalls: 1,
    refreshSuccesses: 1,
    reuseDetected: 0,
    familiesRevoked: 0,
  });

  // A late duplicate on the other instance, inside graceMs, gets the same pair.
  await expect(b(refreshToken!)).resolves.toEqual(pairs[0]);
  expect(auth.stats.refreshCalls).toBe(1);

  // Only the hash of the refresh token is in Redis, kept for graceMs (30 s by default).
  const client = clients[0]!;
  const keys = await client.keys(`${prefix}*`);
  expect(keys).toEqual([`${prefix}${sha256(refreshToken!)}`]);
  expect(keys.join()).not.toContain(refreshToken!);
  const ttl = await client.pttl(keys[0]!);
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(30_000);
});

it('the same two instances with memory stores do not know of each other (the problem)', async () => {
  const [a, b] = [instance(null), instance(null)];
  const { refreshToken } = await login(auth.url);
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b)(refreshToken!)),
  );
  expect(auth.stats.refreshCalls).toBe(2);
  expect(auth.stats.reuseDetected).toBe(1);
  expect(results.filter((result) => result.status === 'rejected')).toHaveLength(25);
});

it('after graceMs the reuse is detected, whichever instance sees it', async () => {
  const prefix = `dedupe:${++prefixes}:`;
  const [a, b] = [instance(prefix, { graceMs: 200 }), instance(prefix, { graceMs: 200 })];
  const { refreshToken } = await login(auth.url);
  await a(refreshToken!);
  await sleep(300);
  await expect(b(refreshToken!)).rejects.toMatchObject({ response: { status: 401 } });
  expect(auth.stats).toMatchObject({ refreshCalls: 2, reuseDetected: 1, familiesRevoked: 1 });
});

it('a failure is never cached: the racing calls of both instances fail, the next call rotates once', async () => {
  const prefix = `dedupe:${++prefixes}:`;
  const [a, b] = [instance(prefix), instance(prefix)];
  const { refreshToken } = await login(auth.url);
  auth.knobs.refreshFailure = 503;
  const failed = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b)(refreshToken!)),
  );
  expect(failed.every((result) => result.status === 'rejected')).toBe(true);
  expect(await clients[0]!.keys(`${prefix}*`)).toEqual([]);

  auth.knobs.refreshFailure = false;
  auth.resetStats();
  const pairs = await Promise.all([a(refreshToken!), b(refreshToken!)]);
  expect(pairs[0]).toEqual(pairs[1]);
  expect(auth.stats).toMatchObject({ refreshCalls: 1, refreshSuccesses: 1, reuseDetected: 0 });
});

it('a corrupted value under a key is dropped, not served', async () => {
  const prefix = `dedupe:${++prefixes}:`;
  const a = instance(prefix);
  const { refreshToken } = await login(auth.url);
  await clients[0]!.set(`${prefix}${sha256(refreshToken!)}`, '{not json');
  await expect(a(refreshToken!)).resolves.toMatchObject({ tokenType: 'Bearer' });
  expect(auth.stats.refreshCalls).toBe(1);
});

it('rejects bad options with INVALID_OPTIONS naming the option, before it connects', () => {
  const failure = (options: unknown) => {
    try {
      redisDedupeStore(options as RedisDedupeStoreOptions);
    } catch (error) {
      expect(error).toBeInstanceOf(RefreshGateError);
      return isRefreshGateError(error) ? [error.code, error.message] : error;
    }
    throw new Error('expected it to throw');
  };
  expect(failure(undefined)).toEqual([
    'INVALID_OPTIONS',
    'Expected `options` to be an object { client, prefix? }, got `undefined` (undefined)',
  ]);
  expect(failure({ client: {} })).toEqual([
    'INVALID_OPTIONS',
    'Expected `client` to be an ioredis or a node-redis client, got `...` (object)',
  ]);
  const client = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
  expect(failure({ client, prefix: 5 })).toEqual([
    'INVALID_OPTIONS',
    'Expected `prefix` to be a string, got `5` (number)',
  ]);
  expect(client.status).toBe('wait');
  client.disconnect();
});
