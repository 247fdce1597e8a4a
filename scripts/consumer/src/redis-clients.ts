// Compile-only: the real clients, as they come, in a project that installed them (see core.ts).
import { redisCoordinator, redisStore } from 'axios-refresh-gate/redis';
import { redisDedupeStore } from 'axios-refresh-gate/server';
import { Redis } from 'ioredis';
import { createClient } from 'redis';

const ioredis = new Redis();
const nodeRedis = createClient({ url: 'redis://127.0.0.1:6379' });

export const clients = [
  redisStore({ client: ioredis, key: 'k' }),
  redisStore({ client: nodeRedis, key: 'k' }),
  redisCoordinator({ client: ioredis, key: 'k', lockTtlMs: 5_000 }),
  redisCoordinator({ client: nodeRedis, key: 'k' }),
  redisDedupeStore({ client: ioredis }),
  redisDedupeStore({ client: nodeRedis, prefix: 'p:' }),
];
