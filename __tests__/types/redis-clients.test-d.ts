// Compile-only checks (`npm run typecheck`); this file never runs. The client option of every
// Redis adapter takes a real client of each supported library as it comes, without a cast:
// ioredis 5 (`new Redis()`), node-redis 6 (`createClient()` of `redis`) and node-redis 4
// (`createClient()` of `redis`@4, installed under the npm alias `redis4`). Each
// `@ts-expect-error` marks something the types must refuse.
import Redis from 'ioredis';
import { createClient } from 'redis';
import { createClient as createClient4 } from 'redis4';
import type { RedisCoordinatorOptions, RedisStoreOptions } from '../../src/redis/index.js';
import { redisCoordinator, redisStore } from '../../src/redis/index.js';
import type { RedisDedupeStoreOptions } from '../../src/server/index.js';
import { redisDedupeStore } from '../../src/server/index.js';

/** Compiles only when `value` is assignable to `T`. */
declare function expectType<T>(value: T): T;

type CoordinatorClient = RedisCoordinatorOptions['client'];
type StoreClient = RedisStoreOptions['client'];
type DedupeClient = RedisDedupeStoreOptions['client'];

const ioredis = new Redis();
const nodeRedis6 = createClient();
const nodeRedis4 = createClient4();
// With options, as an app makes them (also with the offline queue disabled).
const nodeRedis6WithOptions = createClient({
  url: 'redis://127.0.0.1:6379',
  disableOfflineQueue: true,
});
const nodeRedis4WithOptions = createClient4({
  url: 'redis://127.0.0.1:6379',
  disableOfflineQueue: true,
});

// ---- ioredis -------------------------------------------------------------------------------

expectType<CoordinatorClient>(ioredis);
expectType<StoreClient>(ioredis);
expectType<DedupeClient>(ioredis);

// ---- node-redis 6 (`redis`) ----------------------------------------------------------------

expectType<CoordinatorClient>(nodeRedis6);
expectType<StoreClient>(nodeRedis6);
expectType<DedupeClient>(nodeRedis6);
expectType<CoordinatorClient>(nodeRedis6WithOptions);
expectType<StoreClient>(nodeRedis6WithOptions);
expectType<DedupeClient>(nodeRedis6WithOptions);

// ---- node-redis 4 (`redis4`) ---------------------------------------------------------------

expectType<CoordinatorClient>(nodeRedis4);
expectType<StoreClient>(nodeRedis4);
expectType<DedupeClient>(nodeRedis4);
expectType<CoordinatorClient>(nodeRedis4WithOptions);
expectType<StoreClient>(nodeRedis4WithOptions);
expectType<DedupeClient>(nodeRedis4WithOptions);

// ---- in the factories' option literals, as written in an app --------------------------------

redisCoordinator({ client: ioredis, key: 'k' });
redisCoordinator({ client: nodeRedis6, key: 'k', lockTtlMs: 5_000 });
redisCoordinator({ client: nodeRedis4, key: 'k' });
redisStore({ client: ioredis, key: 'k' });
redisStore({ client: nodeRedis6, key: 'k' });
redisStore({ client: nodeRedis4, key: 'k' });
redisDedupeStore({ client: ioredis });
redisDedupeStore({ client: nodeRedis6, prefix: 'p:' });
redisDedupeStore({ client: nodeRedis4 });

// ---- what is refused -----------------------------------------------------------------------

// @ts-expect-error a plain object is not a Redis client (coordinator)
expectType<CoordinatorClient>({});
// @ts-expect-error a plain object is not a Redis client (store)
expectType<StoreClient>({});
// @ts-expect-error a plain object is not a Redis client (dedupe store)
expectType<DedupeClient>({});
// @ts-expect-error a plain object is not a Redis client, in a factory's options either
redisCoordinator({ client: {}, key: 'k' });
// @ts-expect-error the client is required
redisStore({ key: 'k' });
// @ts-expect-error an object with only `get` is neither client
redisDedupeStore({ client: { get: async (_key: string) => null } });
