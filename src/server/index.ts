export type { DedupeClaim, DedupeStore } from './dedupe-store.js';
export { memoryDedupeStore } from './memory-dedupe-store.js';
export type { RedisDedupeStoreOptions } from './redis-dedupe-store.js';
export { redisDedupeStore } from './redis-dedupe-store.js';
export type { RefreshDeduper, RefreshDeduperOptions } from './refresh-deduper.js';
export {
  createRefreshDeduper,
  isRefreshDedupeError,
  RefreshDedupeError,
} from './refresh-deduper.js';
