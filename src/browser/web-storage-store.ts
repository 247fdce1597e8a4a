import { expected } from '../format.js';
import { type GateLogger, RefreshGateError, type TokenStore, type Tokens } from '../index.js';
import { defaultLogger } from '../logger.js';
import { readTokens } from '../token-shape.js';

/**
 * What the store needs of `localStorage` or `sessionStorage`. Written out rather than picked from
 * the DOM's `Storage`, so that the types hold in an app compiled without the DOM lib (server-side
 * rendering, tests under Node).
 */
export interface WebStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Options of {@link webStorageStore}.
 *
 * @example
 * ```ts
 * webStorageStore(localStorage, 'auth', { logger: console });
 * ```
 */
export interface WebStorageStoreOptions {
  /**
   * Where the store warns about a value under its key that is not tokens.
   * @default warnings to `console.warn`
   */
  readonly logger?: Pick<GateLogger, 'warn'> | undefined;
}

/** What `read()` has not looked at yet (no string or null is this). */
const UNREAD = Symbol('unread');

/**
 * A token store in `localStorage` (shared by the tabs of an origin, kept across restarts) or
 * `sessionStorage` (one tab, until it closes), as JSON under one key. `get` is synchronous and
 * cheap: the parsed tokens are kept until the stored string changes. `subscribe` hears other tabs
 * through the window's `storage` event, so a logout in one tab logs out the others.
 *
 * A value under the key that is not tokens (corrupted, written by other code, or with an access
 * token that could inject a header) reads as "no tokens", with one warning; it never throws.
 * Writing throws a clear error when the browser refuses (storage full, storage blocked).
 *
 * Tokens in web storage are readable by any script on the page: keep a strict Content Security
 * Policy, or keep the refresh token in an httpOnly cookie.
 *
 * @example
 * ```ts
 * import { attachRefreshGate } from 'axios-refresh-gate';
 * import { broadcastCoordinator, webStorageStore } from 'axios-refresh-gate/browser';
 *
 * attachRefreshGate(api, {
 *   refresh,
 *   store: webStorageStore(localStorage, 'my-app-tokens'),
 *   coordinator: broadcastCoordinator(),
 * });
 * ```
 */
export function webStorageStore(
  storage: WebStorage,
  key = 'axios-refresh-gate',
  options: WebStorageStoreOptions = {},
): TokenStore {
  if (
    typeof storage !== 'object' ||
    storage === null ||
    typeof storage.getItem !== 'function' ||
    typeof storage.setItem !== 'function' ||
    typeof storage.removeItem !== 'function'
  ) {
    throw invalid('storage', 'localStorage, sessionStorage or another Storage', storage);
  }
  if (typeof key !== 'string' || key === '') {
    throw invalid('key', 'a non-empty string', key);
  }
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'an object { logger? }', options);
  }
  const { logger = defaultLogger } = options;
  if (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function') {
    throw invalid('logger', 'an object with a warn function (console fits)', logger);
  }

  // The cache: the string last read or written, and the tokens it holds.
  let raw: string | null | typeof UNREAD = UNREAD;
  let tokens: Tokens | null = null;

  const refused = (what: string, error: unknown) =>
    new Error(
      `${what} tokens under "${key}" in web storage failed (${describe(error)}); the storage may be full, or blocked by the browser's privacy settings`,
      { cause: error },
    );

  const decode = (text: string): Tokens | null => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      logger.warn(`the value under "${key}" in web storage is not JSON; treating it as no tokens`);
      return null;
    }
    const read = readTokens(value);
    if (read === null) {
      logger.warn(
        `the value under "${key}" in web storage is not tokens ({ accessToken, refreshToken?, expiresAt? }); treating it as no tokens`,
      );
      return null;
    }
    return read;
  };

  const get = (): Tokens | null => {
    let current: string | null;
    try {
      current = storage.getItem(key);
    } catch (error) {
      throw refused('Reading', error);
    }
    // Read on every request: a string comparison, and a parse only when another tab (or code)
    // changed the value. A bad value warns once, when it first appears.
    if (current !== raw) {
      raw = current;
      tokens = current === null ? null : decode(current);
    }
    return tokens;
  };

  return {
    get,
    set(next) {
      const known = readTokens(next) ?? next;
      const text = JSON.stringify(known);
      try {
        storage.setItem(key, text);
      } catch (error) {
        throw refused('Storing', error);
      }
      raw = text;
      tokens = known;
    },
    clear() {
      try {
        storage.removeItem(key);
      } catch (error) {
        throw refused('Removing', error);
      }
      raw = null;
      tokens = null;
    },
    subscribe(listener) {
      const target = globalThis as Partial<
        Pick<Window, 'addEventListener' | 'removeEventListener'>
      >;
      // No window (a worker, Node, React Native): nobody else writes this storage to hear from.
      if (typeof target.addEventListener !== 'function') return () => {};
      const onStorage = (event: Event) => {
        const { key: changed, storageArea } = event as StorageEvent;
        // `key` is null when another tab called storage.clear().
        if (storageArea !== storage || (changed !== key && changed !== null)) return;
        let heard: Tokens | null;
        try {
          heard = get();
        } catch (error) {
          // The storage itself refused (a SecurityError): no token in it.
          logger.warn('reading tokens another tab stored failed', error);
          return;
        }
        listener(heard);
      };
      target.addEventListener('storage', onStorage);
      return () => target.removeEventListener?.('storage', onStorage);
    },
  };
}

const invalid = (name: string, what: string, value: unknown) =>
  new RefreshGateError('INVALID_OPTIONS', expected(name, what, value));

function describe(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { name, message } = error as { name?: unknown; message?: unknown };
    if (typeof message === 'string')
      return typeof name === 'string' ? `${name}: ${message}` : message;
  }
  return String(error);
}
