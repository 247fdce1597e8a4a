// Compile-only: an app's use of 'axios-refresh-gate/browser' (see core.ts).
import axios from 'axios';
import { attachRefreshGate, type TokenStore } from 'axios-refresh-gate';
import {
  type BroadcastCoordinatorOptions,
  broadcastCoordinator,
  resumeRefresh,
  type WebStorage,
  webStorageStore,
} from 'axios-refresh-gate/browser';

declare const storage: WebStorage;
declare const channelName: string | undefined;

const coordinatorOptions: BroadcastCoordinatorOptions = { name: channelName, logger: console };
const store: TokenStore = webStorageStore(storage, 'my-app-tokens', { logger: undefined });
const gate = attachRefreshGate(axios.create(), {
  refresh: async ({ tokens }) => (tokens?.refreshToken === undefined ? null : 'token'),
  store,
  coordinator: broadcastCoordinator(coordinatorOptions),
});
const stop: () => void = resumeRefresh(gate);
// A storage of the app's own (a memory one in tests) fits as well.
const map = new Map<string, string>();
webStorageStore({
  getItem: (key) => map.get(key) ?? null,
  setItem: (key, value) => void map.set(key, value),
  removeItem: (key) => void map.delete(key),
});
declare const readOnly: Pick<WebStorage, 'getItem' | 'setItem'>;
// @ts-expect-error a storage without removeItem cannot clear the tokens
webStorageStore(readOnly);

export const browser = [gate, stop, broadcastCoordinator()];
