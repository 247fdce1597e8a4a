/**
 * `axios-refresh-gate/browser`: one refresh across all the tabs of an origin (Web Locks +
 * BroadcastChannel) and a token store in `localStorage` or `sessionStorage`.
 *
 * @example
 * ```ts
 * import { attachRefreshGate } from 'axios-refresh-gate';
 * import { broadcastCoordinator, webStorageStore } from 'axios-refresh-gate/browser';
 *
 * attachRefreshGate(api, {
 *   refresh,
 *   store: webStorageStore(localStorage),
 *   coordinator: broadcastCoordinator(),
 * });
 * ```
 */
export { type BroadcastCoordinatorOptions, broadcastCoordinator } from './broadcast-coordinator.js';
export { resumeRefresh } from './resume.js';
export {
  type WebStorage,
  type WebStorageStoreOptions,
  webStorageStore,
} from './web-storage-store.js';
