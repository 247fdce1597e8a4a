/**
 * The page script of examples/browser/index.html, bundled with axios and the library by
 * `buildTestPage` (serve.ts). Every tab that opens the page gets its own gate; the gates share
 * tokens through localStorage and one refresh through a Web Lock. The browser tests drive it
 * through `window.app`; the buttons do the same by hand.
 *
 * Query parameters: `api` (the auth server's URL, required), `key` (storage key), `name` (lock and
 * channel name), `coordinator` (`broadcast`, the default, or `tab` for a gate that coordinates
 * within its own tab only, to see what goes wrong without it), `refreshTimeoutMs`, `cooldownMs`.
 */
import axios, { isAxiosError } from 'axios';
import { broadcastCoordinator, webStorageStore } from '../../src/browser/index.js';
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

const warnings: string[] = [];
const logger = {
  debug: () => {},
  warn: (...args: unknown[]) => {
    warnings.push(args.map(String).join(' '));
    console.warn('[axios-refresh-gate]', ...args);
  },
};

const store = webStorageStore(localStorage, key, { logger });
const coordinator =
  params.get('coordinator') === 'tab'
    ? inProcessCoordinator()
    : broadcastCoordinator({ name, logger });

let hold: Promise<void> | undefined;
let release: (() => void) | undefined;
let refreshEntered = 0;
let refreshFailedCalls = 0;
const changes: Array<string | null> = [];

const api = axios.create({ baseURL: apiUrl });
const gate = createRefreshGate({
  store,
  coordinator,
  refreshTimeoutMs,
  cooldownMs,
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

const app: TabApp = {
  async login(username = 'alice') {
    const { data } = await axios.post<Tokens>(`${apiUrl}/auth/login`, {
      username,
      password: 'secret',
    });
    await gate.setTokens(data);
    return data.accessToken;
  },
  async fire(count) {
    const results = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => api.get(`/api/items/${i}`)),
    );
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
