import type { AxiosError, AxiosInstance, InternalAxiosRequestConfig } from 'axios';

/**
 * The tokens the gate manages.
 *
 * @example
 * ```ts
 * const tokens: Tokens = { accessToken: 'eyJ…', refreshToken: 'r1', expiresAt: Date.now() + 60_000 };
 * ```
 */
export interface Tokens {
  readonly accessToken: string;
  readonly refreshToken?: string | undefined;
  /** When the access token expires, in epoch milliseconds. */
  readonly expiresAt?: number | undefined;
}

/**
 * What the `refresh` option receives.
 *
 * @example
 * ```ts
 * refresh: async ({ tokens, signal }) => {
 *   const { data } = await axios.post('/auth/refresh', { refreshToken: tokens?.refreshToken }, { signal });
 *   return data;
 * }
 * ```
 */
export interface RefreshContext {
  /** What the store holds now (the refresh token lives here), read after the lock was taken. */
  readonly tokens: Tokens | null;
  /** Aborted on refresh timeout, `clear()`, `setTokens()` or `destroy()`: pass it to the refresh call. */
  readonly signal: AbortSignal;
  /** Why the refresh runs: a triggering response, a token about to expire, or `gate.refresh()`. */
  readonly reason: 'unauthorized' | 'expiring' | 'manual';
  /** The response that triggered it, for `'unauthorized'`. */
  readonly error?: AxiosError;
  /** The user or tenant this refresh is for, in a {@link RefreshGateGroup}. */
  readonly key?: string;
}

/**
 * Where tokens live. `get` may answer synchronously (read on every request, so keep it cheap) or
 * asynchronously (then the gate keeps the last value it read or was told of, and reads the store
 * again only under the refresh lock).
 *
 * @example
 * ```ts
 * const reduxStore: TokenStore = {
 *   get: () => store.getState().auth.tokens,
 *   set: (tokens) => { store.dispatch(tokensChanged(tokens)); },
 *   clear: () => { store.dispatch(loggedOut()); },
 * };
 * ```
 */
export interface TokenStore {
  get(): Tokens | null | Promise<Tokens | null>;
  set(tokens: Tokens): void | Promise<void>;
  clear(): void | Promise<void>;
  /** Changes made elsewhere (another tab, another process). Returns an unsubscribe function. */
  subscribe?(listener: (tokens: Tokens | null) => void): () => void;
}

/**
 * Makes one refresh run at a time across a scope larger than one gate: the tabs of an origin, the
 * processes sharing a Redis key. The gate re-reads the store inside `runExclusive` and skips the
 * refresh when another member already replaced the stale token (double-check).
 *
 * @example
 * ```ts
 * const gate = createRefreshGate({ refresh, coordinator: inProcessCoordinator() });
 * ```
 */
export interface Coordinator {
  /**
   * Runs `fn` while this member holds the scope's lock; rejects when the lock is not had within
   * `timeoutMs` (0: no limit) or `signal` aborts. A coordinator whose lock can be lost while `fn`
   * runs (it expires) tells `fn` through `lock`.
   */
  runExclusive<T>(
    fn: (lock?: HeldLock) => Promise<T>,
    opts: { signal: AbortSignal; timeoutMs: number },
  ): Promise<T>;
  /** Tells the scope about new tokens (or `null` after a logout). */
  publish?(tokens: Tokens | null): void;
  /** Hears what other members published. Returns an unsubscribe function. */
  subscribe?(listener: (tokens: Tokens | null) => void): () => void;
  dispose?(): void;
}

/**
 * The lock `fn` runs under, from a coordinator that can lose it (a Redis key that expires while
 * its holder is paused). The gate aborts its refresh when `signal` aborts, asks `confirm()` right
 * before calling `refresh`, and then waits for the lock again to take the new holder's tokens.
 */
export interface HeldLock {
  /** Aborts, with a `LOCK_LOST` {@link RefreshGateError}, once this member no longer holds the lock. */
  readonly signal: AbortSignal;
  /**
   * Resolves while the lock is still this member's; rejects with `LOCK_LOST` once it is not.
   * Given the tokens the refresh is about to present, a coordinator that knows the scope moved on
   * since (another member rotated them, and this one has not heard yet) may wait until it has,
   * and resolve with the scope's tokens: the gate presents those, if it did not adopt them.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a confirm written as `async () => {}` fits
  confirm(presenting?: Tokens | null): Promise<Tokens | null | undefined | void>;
}

/** The gate's optional logger; `console` fits. */
export interface GateLogger {
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
}

/**
 * Options of {@link createRefreshGate}. Only `refresh` is required.
 *
 * @example
 * ```ts
 * const gate = attachRefreshGate(api, {
 *   refresh: async ({ tokens, signal }) =>
 *     (await axios.post('/auth/refresh', { refreshToken: tokens?.refreshToken }, { signal })).data,
 *   initialTokens: await login(),
 * });
 * ```
 */
export interface RefreshGateOptions {
  /**
   * The one refresh. Resolve with new `Tokens`, or a string that replaces the access token only;
   * `null` when there is no session to refresh (no refresh token): then a request's 401 reaches
   * its caller as it is, with no cooldown and no `onRefreshFailed` (also for a rejection with
   * `NO_SESSION`).
   */
  readonly refresh: (ctx: RefreshContext) => Promise<Tokens | string | null>;
  /** Where tokens live. @default memoryStore() */
  readonly store?: TokenStore | undefined;
  /** Seeds the store at creation. */
  readonly initialTokens?: Tokens | undefined;
  /** Response statuses that trigger a refresh. @default [401] */
  readonly statusCodes?: readonly number[] | undefined;
  /** Decides which failed responses trigger a refresh; replaces `statusCodes` when given. */
  readonly shouldRefresh?: ((error: AxiosError) => boolean) | undefined;
  /** The header that carries the token. @default 'Authorization' */
  readonly header?: string | undefined;
  /** The scheme before the token; `''` sends the bare token. @default 'Bearer' */
  readonly scheme?: string | undefined;
  /** Puts the token on a request yourself (a query parameter, a custom header); replaces `header`/`scheme`. */
  readonly applyToken?:
    | ((config: InternalAxiosRequestConfig, accessToken: string) => void)
    | undefined;
  /** Origins that get the token: exact origins or RegExps tested against the origin. @default relative URLs and the instance's `baseURL` origin */
  readonly allowedOrigins?: readonly (string | RegExp)[] | undefined;
  /** How long one refresh may take before it is aborted with `REFRESH_TIMEOUT`; 0 disables. @default 10_000 */
  readonly refreshTimeoutMs?: number | undefined;
  /** How long a request may wait for a refresh before it rejects with `QUEUE_TIMEOUT`; 0 disables. @default 30_000 */
  readonly queueTimeoutMs?: number | undefined;
  /** After a failed refresh, how long requests that would start another reject with `COOLDOWN`. @default 5_000 */
  readonly cooldownMs?: number | undefined;
  /** Refresh before sending a request whose token expires within this window. @default 30_000 */
  readonly refreshBeforeExpiryMs?: number | undefined;
  /** When the access token expires (epoch ms). @default `expiresAt`, else the JWT `exp` claim */
  readonly getExpiry?: ((tokens: Tokens) => number | undefined) | undefined;
  /** How many times one request is replayed after a refresh. @default 1 */
  readonly maxReplays?: number | undefined;
  /** Coordinates refreshes beyond this gate (tabs, processes). @default in-process */
  readonly coordinator?: Coordinator | undefined;
  /**
   * Runs once per failed refresh, e.g. to end the session in the UI. `terminal` says whether the
   * failure ends the session (the provider said no) or was transient (no answer, 5xx: retries
   * spent): log the user out only on a terminal one.
   */
  readonly onRefreshFailed?:
    | ((error: unknown, info: { readonly terminal: boolean }) => void)
    | undefined;
  /**
   * A transient failure (see `isTerminal`) is tried again inside the same single flight, after
   * exponential backoff with full jitter (the provider's `Retry-After` if it gives one), at most
   * `maxDelayMs` each; the waiting requests keep waiting. `false`: never.
   * @default { retries: 2, baseDelayMs: 300, maxDelayMs: 5_000 }
   */
  readonly refreshRetry?:
    | {
        readonly retries?: number | undefined;
        readonly baseDelayMs?: number | undefined;
        readonly maxDelayMs?: number | undefined;
      }
    | false
    | undefined;
  /**
   * Whether a refresh failure is terminal (not worth trying again). @default transient: no answer
   * (a network error, a timeout), HTTP 408, 425, 429 or 5xx; every other failure is terminal
   */
  readonly isTerminal?: ((error: unknown) => boolean) | undefined;
  /**
   * `'auto'`: the server's clock is estimated from the `Date` header of responses to requests that
   * carried the token (the median of a few; differences under 2 s are none), and a JWT's `exp` is
   * judged on it, so a device whose clock is minutes off neither sends expired tokens nor refreshes
   * on every request. Used by the default `getExpiry` only. @default 'auto'
   */
  readonly clockSkew?: 'auto' | false | undefined;
  /** Where the gate says what it does. @default warnings to `console.warn`, no debug output */
  readonly logger?: GateLogger | undefined;
}

/**
 * The gate's observable state: one object until a field changes, so it serves as the snapshot of
 * `useSyncExternalStore` (with {@link RefreshGate.subscribe}) or any store of a framework's own.
 */
export interface RefreshGateState {
  readonly status: 'idle' | 'refreshing' | 'cooldown';
  /**
   * Requests and `getAccessToken()` calls waiting right now: held or queued for a refresh, or
   * waiting for an async store's first read. Pending `refresh()` calls are not counted (they
   * wait for the refresh itself, bounded by `refreshTimeoutMs`).
   */
  readonly waiting: number;
  /** Refreshes this gate ran that succeeded. */
  readonly refreshes: number;
  /** Refreshes this gate ran that failed (timeouts included). */
  readonly failures: number;
  /** Whether the gate holds tokens; `null` until an async store's first read answered. */
  readonly signedIn: boolean | null;
}

/**
 * The events of {@link RefreshGate.on} and what each listener receives.
 *
 * @example
 * ```ts
 * gate.on('refresh:failure', ({ error, aborted }) => { if (!aborted) showLogin(error); });
 * ```
 */
export interface GateEventMap {
  /** A refresh starts. */
  readonly 'refresh:start': { readonly reason: RefreshContext['reason'] };
  /** It ended with tokens: `refreshed: false` when it adopted newer ones (another tab or process refreshed); `replaced` when `setTokens()` ended it. */
  readonly 'refresh:success': {
    readonly reason: RefreshContext['reason'];
    readonly refreshed: boolean;
    readonly replaced?: true;
  };
  /** It failed and every waiter rejects with `error`; `aborted` when `clear()` (here or in the scope) ended it: no failure. */
  readonly 'refresh:failure': {
    readonly reason: RefreshContext['reason'];
    readonly error: unknown;
    readonly aborted?: true;
    /** Whether the failure ends the session (see `isTerminal`); absent when aborted. */
    readonly terminal?: boolean;
    /** There was no session to refresh (`NO_SESSION`): no failure either. */
    readonly noSession?: true;
  };
  /** A transient failure: the refresh is tried again (`attempt` 1 is the first retry) after `delayMs`. */
  readonly 'refresh:retry': {
    readonly reason: RefreshContext['reason'];
    readonly attempt: number;
    readonly delayMs: number;
    readonly error: unknown;
  };
  /** A request waits for the refresh: held before it was sent, or queued after its 401. */
  readonly 'request:queued': {
    readonly config: InternalAxiosRequestConfig;
    readonly reason: 'held' | 'unauthorized';
  };
  /** A request is sent again with the new token. */
  readonly 'request:replayed': {
    readonly config: InternalAxiosRequestConfig;
    readonly replays: number;
  };
  /** New tokens, a logout (`null`), or a change from elsewhere. */
  readonly 'tokens:changed': Tokens | null;
}

/** The names of the gate's events. */
export type GateEvent = keyof GateEventMap;

/**
 * One gate: one lock and one token, shared by every instance it is attached to.
 *
 * @example
 * ```ts
 * const gate = createRefreshGate({ refresh });
 * gate.attach(api);
 * const token = await gate.getAccessToken(); // for fetch or a WebSocket
 * ```
 */
export interface RefreshGate {
  /** Installs both interceptors on `instance`; returns the function that detaches them. */
  attach(instance: AxiosInstance): () => void;
  /** A usable access token for fetch or WebSockets; waits on a running refresh. */
  getAccessToken(): Promise<string | null>;
  /** Refreshes now, or joins the refresh in flight; bounded by `refreshTimeoutMs`, not `queueTimeoutMs`. */
  refresh(): Promise<Tokens>;
  /** Stores tokens after a login. */
  setTokens(tokens: Tokens): Promise<void>;
  /** Logs out: clears the store; requests waiting for a refresh are canceled. */
  clear(): Promise<void>;
  /** Now: the same object until a field changes (see {@link subscribe}). */
  readonly state: RefreshGateState;
  /**
   * Calls `listener` after `state` changed (a cooldown's end included); returns the function that
   * stops it. Made for `useSyncExternalStore(gate.subscribe, () => gate.state)`.
   */
  subscribe(listener: () => void): () => void;
  /**
   * The tokens held now, read synchronously: `null` when signed out, `undefined` until an async
   * store's first read answered (reading may start it).
   */
  readonly tokens: Tokens | null | undefined;
  /** Listens to an event, typed by {@link GateEventMap}; returns the function that stops listening. */
  on<E extends GateEvent>(event: E, listener: (payload: GateEventMap[E]) => void): () => void;
  /** Detaches everywhere and rejects every waiter with `DESTROYED`. */
  destroy(): void;
}

// Per-request settings, typed through axios' own config (as axios-retry does), never `as any`.
declare module 'axios' {
  interface AxiosRequestConfig {
    /**
     * Never held, never refreshed or replayed for; the token is still attached. Set it on the
     * refresh call when it goes through an attached instance.
     */
    skipAuthRefresh?: boolean;
    /** In a {@link RefreshGateGroup}: whose request this is (overrides the group's `key(config)`). */
    refreshGateKey?: string | undefined;
  }
}

/**
 * Options of {@link createRefreshGateGroup}: a gate's, less its tokens and store, which are each
 * key's own.
 */
export interface RefreshGateGroupOptions
  extends Omit<RefreshGateOptions, 'initialTokens' | 'store' | 'coordinator'> {
  /** Whose request this is (a user, a tenant); `undefined`: none, the request passes untouched. */
  key(config: InternalAxiosRequestConfig): string | undefined;
  /** Each key's own token store. */
  store(key: string): TokenStore;
  /** Each key's own lock (e.g. a `redisCoordinator` keyed by it): one lock per user. */
  readonly coordinator?: ((key: string) => Coordinator) | undefined;
  /** At most this many gates; the least recently used idle one goes first. @default 10_000 */
  readonly maxGates?: number | undefined;
  /**
   * A gate unused this long (and idle) is dropped; `0`: never. A gate unused for 10 s with
   * nothing under way parks before that: it keeps its key, store, lock and counters (and listens
   * to its scope, if its store or coordinator has `subscribe`), and gets its machine again on its
   * next use. @default 15 minutes
   */
  readonly idleMs?: number | undefined;
}

/** One gate per key on one axios instance; each key has its own single flight. */
export interface RefreshGateGroup {
  /** Installs the group's interceptors on `instance`; returns the function that detaches them. */
  attach(instance: AxiosInstance): () => void;
  /** The gate of `key` (made if needed): `setTokens` after that user's login, `clear` at logout. */
  forKey(key: string): RefreshGate;
  /** Keys in the group now (a parked gate counts). */
  readonly size: number;
  /** Destroys the gate of `key` (its waiters reject with `DESTROYED`). */
  delete(key: string): void;
  /** Detaches everywhere and destroys every gate. */
  destroy(): void;
}
