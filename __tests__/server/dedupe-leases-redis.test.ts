/**
 * The lease contract on the Redis store, against a real redis-server, in real time with small
 * values (leases of 300 ms): two dedupers with their own connections, as two instances, on each
 * client the store takes (ioredis, node-redis 6 and 4).
 * Every server, client and deduper is closed in afterEach/afterAll, also when a test fails.
 */
import { createHash } from 'node:crypto';
import {
  createRefreshDeduper,
  type DedupeStore,
  type RefreshDeduper,
  redisDedupeStore,
} from '../../src/server/index.js';
import { clientKinds, clientPool } from '../helpers/redis-clients.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';
import { leaseContract, track, until } from './dedupe-lease-contract.js';

jest.setTimeout(10_000);

let redis: RedisServer | undefined;
let dedupers: RefreshDeduper[] = [];
let stores: DedupeStore[] = [];
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.close();
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

describe.each(clientKinds)('on $name', (kind) => {
  const clients = clientPool(kind);

  afterEach(async () => {
    for (const deduper of dedupers) deduper.dispose();
    for (const store of stores) store.dispose?.();
    await clients.closeAll();
    dedupers = [];
    stores = [];
  });

  // The harness is synchronous: a client that is still connecting queues its commands (ioredis
  // and node-redis alike, offline queue on), as an app's client does at start-up.
  const connect = () => clients.make(redis!.url);

  function harness() {
    const prefix = `leases:${++prefixes}:`;
    const admin = kind.raw(connect());
    const store = () => {
      const made = redisDedupeStore({ client: connect(), prefix });
      stores.push(made);
      return made;
    };
    return {
      prefix,
      admin,
      instance(options: Parameters<typeof createRefreshDeduper>[0]) {
        const deduper = createRefreshDeduper({ ...options, store: store() });
        dedupers.push(deduper);
        return deduper;
      },
      store,
      wait: sleep,
      async loseLease(hash: string) {
        await admin.del(prefix + hash);
      },
      ttl: (hash: string) => admin.pttl(prefix + hash),
    };
  }

  leaseContract(`Redis store (${kind.name}), real redis-server`, harness);

  describe('leases in Redis', () => {
    it('a slow rotation holds its key one lease at a time (PTTL at most leaseMs), and the key is gone once it is given up', async () => {
      const h = harness();
      const a = h.instance({ leaseMs: 300, waitTimeoutMs: 500, maxRotationMs: 1_200 });
      const rotate = jest.fn(() => new Promise<string>(() => {}));
      const first = track(a.dedupe('r1', rotate));
      await until(h, () => rotate.mock.calls.length > 0);
      const key = h.prefix + sha256('r1');
      // Past two leases, the claim is still there, renewed: never longer than one lease ahead.
      await sleep(700);
      const ttl = await h.admin.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300);
      expect(JSON.parse((await h.admin.get(key))!)).toMatchObject({ s: 'pending' });
      await until(h, () => first.settled);
      expect(first.error).toMatchObject({ status: 429, message: /maxRotationMs/ });
      await sleep(100);
      expect(await h.admin.exists(key)).toBe(0);
    });

    it('dispose() mid-rotation drops its claim in Redis, so another instance can rotate at once', async () => {
      const h = harness();
      const options = { leaseMs: 5_000, waitTimeoutMs: 2_000 };
      const [a, b] = [h.instance(options), h.instance(options)];
      const rotateA = jest.fn(() => new Promise<string>(() => {}));
      const first = track(a.dedupe('r1', rotateA));
      await until(h, () => rotateA.mock.calls.length > 0);
      const waiting = track(b.dedupe('r1', async () => 'from b'));
      await sleep(50);
      a.dispose();
      await until(h, () => waiting.settled);
      expect(first.error).toMatchObject({ name: 'RefreshGateError', code: 'DESTROYED' });
      expect(waiting.value).toBe('from b');
    });
  });
});
