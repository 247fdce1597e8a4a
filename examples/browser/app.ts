/**
 * The page script of examples/browser/index.html, bundled with axios and the library by
 * `buildTestPage` (serve.ts). Every tab that opens the page gets its own gate; the gates share
 * tokens through localStorage and one refresh through a Web Lock. The browser tests drive it
 * through `window.app`; the buttons do the same by hand.
 *
 * Query parameters: `api` (the auth server's URL, required), `key` (storage key), `name` (lock and
 * channel name), `coordinator` (`broadcast`, the default, or `tab` for a gate that coordinates
 * within its own tab only, to see what goes wrong without it), `refreshTimeoutMs`, `cooldownMs`,
 * `refreshBeforeExpiryMs` (the gate's option; omitted: the gate's default).
 *
 * Test hooks, to make the browser's delivery order adverse on purpose (omitted or 0: the page is
 * exactly as without them):
 * - `announceDelayMs=N`: this tab's token announcements on the BroadcastChannel (messages that
 *   carry `tokens`) reach the other tabs N ms after they were posted. Other messages (the
 *   barrier's pings, posted from another channel object) are not delayed, but a message posted on
 *   the same channel object after a delayed one waits behind it, as the browser keeps the order
 *   of one object's messages.
 * - `storageLagMs=N`: this tab's store sees other tabs' localStorage writes N ms after the browser
 *   reported them (the `storage` event): until then its reads answer what was there before, and
 *   its `storage` event comes N ms late. Its own writes it sees at once. The store is given a
 *   Storage-like view of localStorage (see {@link laggingStorage}); src is unchanged.
 * - `storageEventDelayMs=N`: this tab reads other tabs' localStorage writes at once but hears of
 *   them (the `storage` event) N ms later, as when Chromium has updated a tab's copy of
 *   localStorage and the event waits in a later task. Ignored with `storageLagMs`, which delays
 *   the event too.
 */
import axios, { isAxiosError } from 'axios';
import { broadcastCoordinator, type WebStorage, webStorageStore } from '../../src/browser/index.js';
import {
  createRefreshGate,
  inProcessCoordinator,
  isRefreshGateError,
  type Tokens,
} from '../../src/index.js';

/** One tab's view, for the tests. */
export interface TabState {
  /** The access token in the shared store. */
  token: string | null;
  status: 'idle' | 'refreshing' | 'cooldown';
  waiting: number;
  /** Refreshes this tab's gate ran to success. */
  refreshes: number;
  /** Refreshes this tab's gate ran that failed. */
  failures: number;
  /** Times this tab's `refresh` function was entered (reached the point of calling the server). */
  refreshEntered: number;
  /** Times `onRefreshFailed` ran in this tab. */
  refreshFailedCalls: number;
  /** Times this page was shown again from the back/forward cache (`pageshow` with `persisted`). */
  restoredFromCache: number;
  /** Access tokens announced by `tokens:changed` (null for a logout), in order. */
  changes: Array<string | null>;
  warnings: string[];
}

/** How a burst of requests ended. */
export interface FireResult {
  ok: number;
  failed: number;
  /** Failures by kind: a RefreshGateError code, an HTTP status, or the error's name. */
  errors: Record<string, number>;
  /** Whether every failure is one and the same error object (rule 5). */
  sameError: boolean;
}

export interface TabApp {
  login(username?: string): Promise<string>;
  fire(count: number): Promise<FireResult>;
  /** Sends one request every `everyMs` for `forMs` (without waiting for the answers), then waits
   *  for them all. */
  fireEvery(everyMs: number, forMs: number): Promise<FireResult>;
  clear(): Promise<void>;
  state(): TabState;
  accessToken(): Promise<string | null>;
  /** Makes this tab's refresh wait, once entered, until `releaseRefreshes()`. */
  holdRefreshes(): void;
  releaseRefreshes(): void;
  /** This page's lock, across the origin: how many tabs hold it and wait for it. */
  locks(): Promise<{ held: number; pending: number }>;
}

declare global {
  interface Window {
    app?: TabApp;
    /** The library, for tests that build their own coordinators in the page. */
    lib?: {
      broadcastCoordinator: typeof broadcastCoordinator;
      webStorageStore: typeof webStorageStore;
    };
  }
}

const params = new URLSearchParams(location.search);
const apiUrl = params.get('api') ?? 'http://127.0.0.1:4000';
const key = params.get('key') ?? 'axios-refresh-gate';
const name = params.get('name') ?? 'axios-refresh-gate';
const refreshTimeoutMs = Number(params.get('refreshTimeoutMs') ?? 10_000);
const cooldownMs = Number(params.get('cooldownMs') ?? 5_000);
const refreshBeforeExpiryMs = params.has('refreshBeforeExpiryMs')
  ? { refreshBeforeExpiryMs: Number(params.get('refreshBeforeExpiryMs')) }
  : {};
const announceDelayMs = Number(params.get('announceDelayMs') ?? 0);
const storageLagMs = Number(params.get('storageLagMs') ?? 0);
const storageEventDelayMs = Number(params.get('storageEventDelayMs') ?? 0);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The `announceDelayMs` hook: wraps `BroadcastChannel.prototype.postMessage` (before the
 * coordinator exists) so that a message carrying `tokens` is posted `ms` later. Each channel
 * object keeps its order: a message posted after a delayed one is posted right after it.
 */
function delayAnnouncements(ms: number): void {
  const post = BroadcastChannel.prototype.postMessage;
  const queues = new WeakMap<BroadcastChannel, Promise<void>>();
  BroadcastChannel.prototype.postMessage = function (this: BroadcastChannel, message: unknown) {
    const announces = typeof message === 'object' && message !== null && 'tokens' in message;
    const queued = queues.get(this);
    if (!announces && !queued) return post.call(this, message);
    // postMessage copies the message when it is called; so does the delayed one.
    const copy = structuredClone(message);
    const due = performance.now() + (announces ? ms : 0);
    const turn = (queued ?? Promise.resolve())
      .then(() => sleep(due - performance.now()))
      .then(() => {
        try {
          post.call(this, copy);
        } catch {
          // Closed meanwhile (the coordinator was disposed of): the message is dropped, as it
          // would have been.
        }
      });
    queues.set(this, turn);
    void turn.then(() => {
      if (queues.get(this) === turn) queues.delete(this);
    });
  };
}

/**
 * The `storageLagMs` hook: a view of `storage` for webStorageStore whose reads show other tabs'
 * writes `lagMs` after the browser reported them. The view answers from its own copy of each key
 * (read from `storage` once, then changed by this tab's writes at once and by the other tabs'
 * writes late); the window's `storage` events for `storage` are held back (stopped in the capture
 * phase, before any other listener) and dispatched again, `lagMs` later, as events whose
 * `storageArea` is the view, which is what webStorageStore compares with the storage it was given.
 */
function laggingStorage(storage: Storage, lagMs: number): WebStorage {
  const shown = new Map<string, string | null>();
  const relayed = new WeakSet<Event>();
  const view: WebStorage = {
    getItem(item) {
      if (!shown.has(item)) shown.set(item, storage.getItem(item));
      return shown.get(item) ?? null;
    },
    setItem(item, value) {
      storage.setItem(item, value);
      shown.set(item, String(value));
    },
    removeItem(item) {
      storage.removeItem(item);
      shown.set(item, null);
    },
  };
  window.addEventListener(
    'storage',
    (event) => {
      if (relayed.has(event) || event.storageArea !== storage) return;
      event.stopImmediatePropagation();
      const { key: changed, oldValue, newValue, url } = event;
      // What this tab saw of the key until now stays what it sees until the lag is over.
      if (changed !== null && !shown.has(changed)) shown.set(changed, oldValue);
      setTimeout(() => {
        if (changed === null) shown.clear();
        else shown.set(changed, newValue);
        const late = new Event('storage');
        Object.defineProperties(late, {
          key: { value: changed },
          oldValue: { value: oldValue },
          newValue: { value: newValue },
          url: { value: url },
          storageArea: { value: view },
        });
        relayed.add(late);
        window.dispatchEvent(late);
      }, lagMs);
    },
    { capture: true },
  );
  return view;
}

/**
 * The `storageEventDelayMs` hook: the window's `storage` events are stopped in the capture phase,
 * before any other listener, and dispatched again as they were `ms` later.
 */
function delayStorageEvents(ms: number): void {
  const relayed = new WeakSet<Event>();
  window.addEventListener(
    'storage',
    (event) => {
      if (relayed.has(event)) return;
      event.stopImmediatePropagation();
      const { key: changed, oldValue, newValue, url, storageArea } = event;
      setTimeout(() => {
        const late = new StorageEvent('storage', {
          key: changed,
          oldValue,
          newValue,
          url,
          storageArea,
        });
        relayed.add(late);
        window.dispatchEvent(late);
      }, ms);
    },
    { capture: true },
  );
}

if (announceDelayMs > 0) delayAnnouncements(announceDelayMs);
if (storageEventDelayMs > 0 && !(storageLagMs > 0)) delayStorageEvents(storageEventDelayMs);

const warnings: string[] = [];
const logger = {
  debug: () => {},
  warn: (...args: unknown[]) => {
    warnings.push(args.map(String).join(' '));
    console.warn('[axios-refresh-gate]', ...args);
  },
};

const store = webStorageStore(
  storageLagMs > 0 ? laggingStorage(localStorage, storageLagMs) : localStorage,
  key,
  { logger },
);
const coordinator =
  params.get('coordinator') === 'tab'
    ? inProcessCoordinator()
    : broadcastCoordinator({ name, logger });

let hold: Promise<void> | undefined;
let release: (() => void) | undefined;
let refreshEntered = 0;
let refreshFailedCalls = 0;
let restoredFromCache = 0;
addEventListener('pageshow', (event) => {
  if (event.persisted) restoredFromCache++;
});
const changes: Array<string | null> = [];

const api = axios.create({ baseURL: apiUrl });
const gate = createRefreshGate({
  store,
  coordinator,
  refreshTimeoutMs,
  cooldownMs,
  ...refreshBeforeExpiryMs,
  logger,
  refresh: async ({ tokens, signal }) => {
    refreshEntered++;
    if (hold) {
      const held = hold;
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        held.then(resolve);
      });
    }
    const { data } = await axios.post<Tokens>(
      `${apiUrl}/auth/refresh`,
      { refreshToken: tokens?.refreshToken },
      { signal },
    );
    return data;
  },
  onRefreshFailed: () => {
    refreshFailedCalls++;
  },
});
gate.attach(api);
gate.on('tokens:changed', (tokens) => {
  changes.push((tokens as Tokens | null)?.accessToken ?? null);
  render();
});

const kindOf = (error: unknown): string => {
  if (isRefreshGateError(error)) return error.code;
  if (isAxiosError(error) && error.response) return String(error.response.status);
  return error instanceof Error ? error.name : typeof error;
};

/** How the requests sent ended. */
async function settle(sent: Array<Promise<unknown>>): Promise<FireResult> {
  const results = await Promise.allSettled(sent);
  const errors: Record<string, number> = {};
  const reasons: unknown[] = [];
  for (const result of results) {
    if (result.status === 'fulfilled') continue;
    reasons.push(result.reason);
    const kind = kindOf(result.reason);
    errors[kind] = (errors[kind] ?? 0) + 1;
  }
  render();
  return {
    ok: results.length - reasons.length,
    failed: reasons.length,
    errors,
    sameError: reasons.every((reason) => reason === reasons[0]),
  };
}

const app: TabApp = {
  async login(username = 'alice') {
    const { data } = await axios.post<Tokens>(`${apiUrl}/auth/login`, {
      username,
      password: 'secret',
    });
    await gate.setTokens(data);
    return data.accessToken;
  },
  fire(count) {
    return settle(Array.from({ length: count }, (_, i) => api.get(`/api/items/${i}`)));
  },
  async fireEvery(everyMs, forMs) {
    const sent: Array<Promise<unknown>> = [];
    const end = performance.now() + forMs;
    while (performance.now() < end) {
      const request = api.get(`/api/items/${sent.length}`);
      // Settled below; until then its failure is not unhandled.
      request.catch(() => {});
      sent.push(request);
      await sleep(everyMs);
    }
    return settle(sent);
  },
  clear: () => gate.clear(),
  state() {
    const { status, waiting, refreshes, failures } = gate.state;
    return {
      // webStorageStore answers synchronously.
      token: (store.get() as Tokens | null)?.accessToken ?? null,
      status,
      waiting,
      refreshes,
      failures,
      refreshEntered,
      refreshFailedCalls,
      restoredFromCache,
      changes: [...changes],
      warnings: [...warnings],
    };
  },
  accessToken: () => gate.getAccessToken(),
  holdRefreshes() {
    hold = new Promise<void>((resolve) => {
      release = resolve;
    });
  },
  releaseRefreshes() {
    release?.();
    hold = undefined;
  },
  async locks() {
    const { held = [], pending = [] } = await navigator.locks.query();
    return {
      held: held.filter((lock) => lock.name === name).length,
      pending: pending.filter((lock) => lock.name === name).length,
    };
  },
};

window.app = app;
window.lib = { broadcastCoordinator, webStorageStore };

// The buttons, for trying it by hand.
const out = document.getElementById('out');
function render(): void {
  if (out) out.textContent = JSON.stringify(app.state(), null, 2);
}
const on = (id: string, action: () => Promise<unknown>) =>
  document.getElementById(id)?.addEventListener('click', () => {
    action().then(
      (result) => {
        render();
        if (result !== undefined && out) out.textContent += `\n${JSON.stringify(result)}`;
      },
      (error: unknown) => {
        if (out) out.textContent += `\n${String(error)}`;
      },
    );
  });
on('login', () => app.login());
on('fire', () => app.fire(20));
on('clear', () => app.clear());
render();
