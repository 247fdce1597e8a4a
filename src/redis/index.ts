export type { RedisCoordinatorOptions } from './redis-coordinator.js';
export { redisCoordinator } from './redis-coordinator.js';
export type { RedisStoreOptions } from './redis-store.js';
export { redisStore } from './redis-store.js';
