/**
 * Two server instances sharing a real Redis behave as one deduper, on each client the store takes
 * (ioredis, node-redis 6 and 4). Each "instance" is a deduper with its own connection in front of
 * the one token database (the example auth server, without its own deduper), as two pods of an
 * auth service would be.
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
  type DedupeStore,
  memoryDedupeStore,
  type RedisDedupeStoreOptions,
  type RefreshDeduper,
  redisDedupeStore,
} from '../../src/server/index.js';
import { clientKinds, clientPool, type RawCommands } from '../helpers/redis-clients.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let auth: AuthServer;
let agent: Agent;
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
  dedupers = [];
  agent.destroy();
  await auth.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** One server instance: its own store and deduper, rotating at the token database. */
function instance(store: DedupeStore, options: { graceMs?: number } = {}) {
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

it('the same two instances with memory stores do not know of each other (the problem)', async () => {
  const [a, b] = [instance(memoryDedupeStore()), instance(memoryDedupeStore())];
  const { refreshToken } = await login(auth.url);
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b)(refreshToken!)),
  );
  expect(auth.stats.refreshCalls).toBe(2);
  expect(auth.stats.reuseDetected).toBe(1);
  expect(results.filter((result) => result.status === 'rejected')).toHaveLength(25);
});

const failure = (options: unknown) => {
  try {
    redisDedupeStore(options as RedisDedupeStoreOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(RefreshGateError);
    return isRefreshGateError(error) ? [error.code, error.message] : error;
  }
  throw new Error('expected it to throw');
};

describe.each(clientKinds)('on $name', (kind) => {
  const clients = clientPool(kind);
  // Each instance has its own connection; `admin` checks Redis itself.
  let admin: RawCommands;
  beforeAll(async () => {
    admin = kind.raw(await clients.connect(redis));
  });
  afterAll(() => clients.closeAll());

  const redisInstance = async (prefix: string, options: { graceMs?: number } = {}) =>
    instance(redisDedupeStore({ client: await clients.connect(redis), prefix }), options);

  it('two instances sharing a real Redis: 50 racing refreshes split between them → one rotation, one pair', async () => {
    const prefix = `dedupe:${++prefixes}:`;
    const [a, b] = await Promise.all([redisInstance(prefix), redisInstance(prefix)]);
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
    const keys = await admin.keys(`${prefix}*`);
    expect(keys).toEqual([`${prefix}${sha256(refreshToken!)}`]);
    expect(keys.join()).not.toContain(refreshToken!);
    const ttl = await admin.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('after graceMs the reuse is detected, whichever instance sees it', async () => {
    const prefix = `dedupe:${++prefixes}:`;
    const [a, b] = await Promise.all([
      redisInstance(prefix, { graceMs: 200 }),
      redisInstance(prefix, { graceMs: 200 }),
    ]);
    const { refreshToken } = await login(auth.url);
    await a(refreshToken!);
    await sleep(300);
    await expect(b(refreshToken!)).rejects.toMatchObject({ response: { status: 401 } });
    expect(auth.stats).toMatchObject({ refreshCalls: 2, reuseDetected: 1, familiesRevoked: 1 });
  });

  it('a failure is never cached: the racing calls of both instances fail, the next call rotates once', async () => {
    const prefix = `dedupe:${++prefixes}:`;
    const [a, b] = await Promise.all([redisInstance(prefix), redisInstance(prefix)]);
    const { refreshToken } = await login(auth.url);
    auth.knobs.refreshFailure = 503;
    const failed = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b)(refreshToken!)),
    );
    expect(failed.every((result) => result.status === 'rejected')).toBe(true);
    expect(await admin.keys(`${prefix}*`)).toEqual([]);

    auth.knobs.refreshFailure = false;
    auth.resetStats();
    const pairs = await Promise.all([a(refreshToken!), b(refreshToken!)]);
    expect(pairs[0]).toEqual(pairs[1]);
    expect(auth.stats).toMatchObject({ refreshCalls: 1, refreshSuccesses: 1, reuseDetected: 0 });
  });

  it('a corrupted value under a key is dropped, not served', async () => {
    const prefix = `dedupe:${++prefixes}:`;
    const a = await redisInstance(prefix);
    const { refreshToken } = await login(auth.url);
    await admin.set(`${prefix}${sha256(refreshToken!)}`, '{not json');
    await expect(a(refreshToken!)).resolves.toMatchObject({ tokenType: 'Bearer' });
    expect(auth.stats.refreshCalls).toBe(1);
  });

  it(`accepts a client of ${kind.name} as it comes; refuses one that is neither client`, async () => {
    const client = await clients.connect(redis);
    expect(typeof redisDedupeStore({ client, prefix: 'valid:' }).claim).toBe('function');
    // The client passed: the next option is the one refused.
    expect(failure({ client, prefix: 5 })).toEqual([
      'INVALID_OPTIONS',
      'Expected `prefix` to be a string, got `5` (number)',
    ]);
    expect(failure({ client: {} })).toEqual([
      'INVALID_OPTIONS',
      'Expected `client` to be an ioredis or a node-redis client, got `...` (object)',
    ]);
  });
});

it('rejects bad options with INVALID_OPTIONS naming the option, before it connects', () => {
  expect(failure(undefined)).toEqual([
    'INVALID_OPTIONS',
    'Expected `options` to be an object { client, prefix? }, got `undefined` (undefined)',
  ]);
  expect(failure({ client: {} })).toEqual([
    'INVALID_OPTIONS',
    'Expected `client` to be an ioredis or a node-redis client, got `...` (object)',
  ]);
  const client = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
  try {
    expect(failure({ client, prefix: 5 })).toEqual([
      'INVALID_OPTIONS',
      'Expected `prefix` to be a string, got `5` (number)',
    ]);
    expect(client.status).toBe('wait');
  } finally {
    client.disconnect();
  }
});
