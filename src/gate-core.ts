import {
  type AxiosError,
  AxiosHeaders,
  type AxiosInstance,
  CanceledError,
  type InternalAxiosRequestConfig,
} from 'axios';
import { type Clock, systemClock } from './clock.js';
import { RefreshGateError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { createOriginPolicy } from './origins.js';
import { toTokens } from './tokens.js';
import type { GateEvent, RefreshContext, RefreshGateState, Tokens } from './types.js';

type Reason = RefreshContext['reason'];
type Listener = (payload: unknown) => void;

/** One request or call waiting for the refresh in flight. */
interface Waiter {
  resolve(tokens: Tokens): void;
  reject(error: unknown): void;
  /** When it gives up with QUEUE_TIMEOUT (clock ms); waiters join in deadline order. */
  deadline: number;
  /** Removes the abort and cancel-token listeners. */
  cleanup: (() => void) | undefined;
}

/** The one refresh in flight. */
interface Attempt {
  readonly controller: AbortController;
  readonly reason: Reason;
  timer: unknown;
  settled: boolean;
}

/** How an attempt ended. */
type Outcome =
  | { kind: 'refreshed' | 'adopted' | 'replaced'; tokens: Tokens }
  | { kind: 'failed' | 'aborted'; error: unknown };

const isThenable = <T>(value: unknown): value is PromiseLike<T> =>
  typeof (value as PromiseLike<T> | null)?.then === 'function';

const canceled = (config: InternalAxiosRequestConfig | undefined, message?: string) =>
  // axios' own type for this constructor is narrower than its runtime signature.
  new (
    CanceledError as unknown as new (
      message?: string,
      config?: InternalAxiosRequestConfig,
    ) => Error
  )(message, config);

/** How many times a request has been replayed; a plain key, so axios' mergeConfig carries it. */
export const REPLAYS = 'refreshGateReplays';

/**
 * The state of one gate and everything the interceptors share: the one attempt in flight (the
 * lock), the waiters, the token cache, cooldown and young-token bookkeeping. Internal: users get
 * the {@link RefreshGate} facade.
 */
export class GateCore {
  readonly clock: Clock = systemClock;
  destroyed = false;
  readonly allowed: (config: InternalAxiosRequestConfig, instance: AxiosInstance) => boolean;

  private attempt: Attempt | null = null;
  private readonly waiters = new Set<Waiter>();
  /** Errors waiters were rejected with (see {@link wasDelivered}). */
  private readonly delivered = new WeakSet<object>();
  private queueTimer: unknown;
  private queueTimerArmed = false;

  /** The tokens last read from the store or obtained; what async stores are served from. */
  private cache: Tokens | null = null;
  private asyncStore = false;
  private loaded = false;
  private loading: Promise<Tokens | null> | undefined;

  private expiryFor: Tokens | null = null;
  private expiryValue: number | undefined;
  private headerFor: string | null = null;
  private headerValue = '';
  private readonly headerLower: string;

  /** The access token this gate's last refresh obtained, and when. */
  private young: { token: string; at: number } | null = null;
  private failure: { error: unknown; at: number } | null = null;
  private refreshes = 0;
  private failures = 0;
  private announced: string | null | undefined;
  /** The access token the store answered last (`undefined` before the first read). */
  private storeShows: string | null | undefined;
  /**
   * Tokens another member announced while the store still showed `lagging`. A store shared
   * through a channel of its own can show a change later than the coordinator announces it:
   * localStorage reaches other tabs on its own schedule, even after the lock holder released the
   * lock. Until the store shows something else, these are the current tokens.
   */
  private ahead: { tokens: Tokens; lagging: string | null } | undefined;

  /** The token each request was sent with: `null` for none, missing when the gate did not see it. */
  // A symbol key on the config rather than a WeakMap: one property write per request instead of a
  // WeakMap insert, which profiling showed was most of the gate's own hot-path cost. axios'
  // mergeConfig copies no symbol keys, so a replay's config starts without it, as it should.
  private readonly sentKey = Symbol('axios-refresh-gate.sent');
  private readonly listeners = new Map<GateEvent, Set<Listener>>();
  /** Events raised while listeners run wait here, so every listener sees them in order. */
  private readonly pendingEvents: Array<[GateEvent, unknown]> = [];
  private emitting = false;
  /** How the last refresh ended: for a caller whose refresh ended while it was being started. */
  private lastEnd: Outcome | undefined;
  private readonly unsubscribers: Array<() => void> = [];
  private warnedUnscoped = false;
  private warnedShortLived = false;

  constructor(readonly options: ResolvedOptions) {
    this.headerLower = options.header.toLowerCase();
    this.allowed = createOriginPolicy(options.allowedOrigins, (url) => {
      if (this.warnedUnscoped) return;
      this.warnedUnscoped = true;
      options.logger.warn(
        `no token attached to ${url}: an absolute URL needs the instance's baseURL on its origin, or allowedOrigins`,
      );
    });
    const { store, coordinator, initialTokens } = options;
    if (initialTokens) {
      this.cache = initialTokens;
      this.loaded = true;
      this.announced = initialTokens.accessToken;
      this.guard(() => store.set(initialTokens), 'storing initialTokens failed');
    }
    const hear = (tokens: Tokens | null) => this.heard(tokens);
    if (store.subscribe) this.unsubscribers.push(store.subscribe(hear));
    if (coordinator.subscribe) this.unsubscribers.push(coordinator.subscribe(hear));
  }

  // ---- tokens -------------------------------------------------------------------------------

  /** Synchronous stores are read on every request (they are the truth); async ones are cached. */
  readTokens(): Tokens | null | Promise<Tokens | null> {
    if (this.asyncStore) return this.loaded ? this.cache : this.load();
    let value: Tokens | null | Promise<Tokens | null>;
    try {
      value = this.options.store.get();
    } catch (error) {
      return Promise.reject(error);
    }
    if (isThenable<Tokens | null>(value)) {
      this.asyncStore = true;
      // Tokens seeded, set or obtained before this first read are newer than what it answers.
      if (this.loaded) {
        value.then(undefined, () => {});
        return this.cache;
      }
      return this.load(value);
    }
    this.cache = this.fromStore(value ?? null);
    return this.cache;
  }

  private load(first?: PromiseLike<Tokens | null>): Promise<Tokens | null> {
    this.loading ??= Promise.resolve(first ?? this.options.store.get()).then(
      (tokens) => {
        this.loading = undefined;
        // Tokens obtained or set while the read was under way are newer than what it read.
        if (!this.loaded) {
          this.cache = tokens ?? null;
          this.loaded = true;
        }
        return this.cache;
      },
      (error: unknown) => {
        this.loading = undefined;
        throw error;
      },
    );
    return this.loading;
  }

  /** What the store answered, unless it still lags behind tokens announced elsewhere. */
  private fromStore(value: Tokens | null): Tokens | null {
    const token = value?.accessToken ?? null;
    this.storeShows = token;
    const ahead = this.ahead;
    if (ahead) {
      if (token === ahead.lagging) return ahead.tokens;
      this.ahead = undefined;
    }
    return value;
  }

  /** The tokens to attach without waiting: for the refresh call itself. */
  private peekTokens(): Tokens | null {
    if (this.asyncStore) return this.cache;
    try {
      const value = this.options.store.get();
      return isThenable(value) ? this.cache : this.fromStore(value ?? null);
    } catch {
      return this.cache;
    }
  }

  private expiryOf(tokens: Tokens): number | undefined {
    // Decoded once per token, not once per request: stores may hand out a fresh object each time.
    const seen = this.expiryFor;
    if (
      tokens !== seen &&
      (seen === null ||
        tokens.accessToken !== seen.accessToken ||
        tokens.expiresAt !== seen.expiresAt)
    ) {
      this.expiryFor = tokens;
      try {
        this.expiryValue = this.options.getExpiry(tokens);
      } catch (error) {
        this.expiryValue = undefined;
        this.options.logger.warn('getExpiry threw; treating the expiry as unknown', error);
      }
    }
    return this.expiryValue;
  }

  private expiring(tokens: Tokens): boolean {
    const expiry = this.expiryOf(tokens);
    return expiry !== undefined && expiry - this.clock.now() <= this.options.refreshBeforeExpiryMs;
  }

  private isYoung(token: string): boolean {
    const young = this.young;
    return (
      young !== null &&
      young.token === token &&
      this.clock.now() - young.at < this.options.cooldownMs
    );
  }

  private coolingDown(): boolean {
    return this.failure !== null && this.clock.now() - this.failure.at < this.options.cooldownMs;
  }

  /** Rule 10, with two guards: a failing refresh cools down, and a token just obtained is not
   *  refreshed again (a lifetime shorter than the window would otherwise refresh on every request). */
  private wantsProactive(tokens: Tokens): boolean {
    if (!this.expiring(tokens) || this.coolingDown()) return false;
    if (this.isYoung(tokens.accessToken)) {
      if (!this.warnedShortLived) {
        this.warnedShortLived = true;
        this.options.logger.warn(
          'a token just obtained already expires within refreshBeforeExpiryMs; it is used as is',
        );
      }
      return false;
    }
    return true;
  }

  apply(config: InternalAxiosRequestConfig, tokens: Tokens | null): void {
    // Another interceptor may have replaced the headers with a plain object.
    if (typeof (config.headers as { set?: unknown } | undefined)?.set !== 'function') {
      config.headers = AxiosHeaders.from(config.headers as unknown as Record<string, string>);
    }
    const token = tokens?.accessToken ?? null;
    (config as unknown as Record<symbol, string | null>)[this.sentKey] = token;
    const { applyToken, header, scheme } = this.options;
    if (token === null) {
      // A replay must not carry the token it was first sent with after a logout.
      if (!applyToken && (config as unknown as Record<string, unknown>)[REPLAYS]) {
        config.headers.delete(header);
      }
      return;
    }
    if (applyToken) {
      applyToken(config, token);
      return;
    }
    if (token !== this.headerFor) {
      this.headerFor = token;
      this.headerValue = scheme ? `${scheme} ${token}` : token;
    }
    const headers = config.headers;
    if (this.assignable(headers))
      (headers as unknown as Record<string, string>)[header] = this.headerValue;
    else headers.set(header, this.headerValue);
  }

  /**
   * Whether assigning the header as a property does what `headers.set` would: it is already there
   * under this exact name (and not `false`, which `set` keeps), or under no other spelling. Most of
   * `set`'s cost is normalizing and re-validating a name and value that were checked up front.
   */
  private assignable(headers: InternalAxiosRequestConfig['headers']): boolean {
    const { header } = this.options;
    const current = (headers as unknown as Record<string, unknown>)[header];
    if (current === false || (current !== undefined && !Object.hasOwn(headers, header))) {
      return false;
    }
    for (const key of Object.keys(headers)) {
      if (key !== header && key.length === header.length && key.toLowerCase() === this.headerLower)
        return false;
    }
    return true;
  }

  sentToken(config: object): string | null | undefined {
    return (config as unknown as Record<symbol, string | null | undefined>)[this.sentKey];
  }

  // ---- the request path ---------------------------------------------------------------------

  isRefreshCall(config: InternalAxiosRequestConfig): boolean {
    return (
      config.skipAuthRefresh === true ||
      (this.attempt !== null && config.signal === this.attempt.controller.signal)
    );
  }

  attachForRefreshCall(config: InternalAxiosRequestConfig): InternalAxiosRequestConfig {
    this.apply(config, this.peekTokens());
    return config;
  }

  prepare(
    config: InternalAxiosRequestConfig,
  ): InternalAxiosRequestConfig | Promise<InternalAxiosRequestConfig> {
    if (this.attempt) return this.hold(config);
    const tokens = this.readTokens();
    if (isThenable<Tokens | null>(tokens))
      return tokens.then((read) => this.afterRead(config, read));
    return this.afterRead(config, tokens);
  }

  private afterRead(
    config: InternalAxiosRequestConfig,
    tokens: Tokens | null,
  ): InternalAxiosRequestConfig | Promise<InternalAxiosRequestConfig> {
    if (this.attempt) return this.hold(config);
    if (tokens && this.wantsProactive(tokens)) {
      this.start('expiring', undefined, tokens.accessToken);
      return this.hold(config);
    }
    this.apply(config, tokens);
    return config;
  }

  private hold(config: InternalAxiosRequestConfig): Promise<InternalAxiosRequestConfig> {
    this.emit('request:queued', { config, reason: 'held' });
    return this.wait(config).then((tokens) => {
      this.apply(config, tokens);
      return config;
    });
  }

  // ---- the response path --------------------------------------------------------------------

  triggers(error: AxiosError): boolean {
    const { shouldRefresh, statusCodes, logger } = this.options;
    if (shouldRefresh) {
      try {
        return shouldRefresh(error) === true;
      } catch (thrown) {
        logger.warn('shouldRefresh threw; not refreshing for this response', thrown);
        return false;
      }
    }
    const status = error.response?.status;
    return status !== undefined && statusCodes.includes(status);
  }

  /**
   * Resolves when the request that failed with `error` may be replayed (rules 3, 4, 6); rejects
   * with what its caller should see otherwise.
   */
  async readyToReplay(error: AxiosError, config: InternalAxiosRequestConfig): Promise<void> {
    if (!this.attempt) {
      const current = await this.readTokens();
      const currentToken = current?.accessToken ?? null;
      const sent = this.sentToken(config);
      if (!this.attempt) {
        // Rule 4: sent with a token that is no longer current: replay with the current one.
        if (sent !== undefined && sent !== currentToken) return;
        // Rule 6: the token a refresh just gave us is refused: refreshing again would loop.
        if (sent != null && this.isYoung(sent)) throw error;
        if (this.coolingDown()) throw this.cooldownError();
        this.start('unauthorized', error, currentToken);
      }
    }
    this.emit('request:queued', { config, reason: 'unauthorized' });
    await this.wait(config);
  }

  private cooldownError(): RefreshGateError {
    const failure = this.failure!;
    const left = failure.at + this.options.cooldownMs - this.clock.now();
    return new RefreshGateError(
      'COOLDOWN',
      `the last refresh failed ${this.options.cooldownMs - left} ms ago; no new refresh for ${left} ms (cooldownMs)`,
      { cause: failure.error },
    );
  }

  // ---- waiting ------------------------------------------------------------------------------

  wait(config?: InternalAxiosRequestConfig): Promise<Tokens> {
    // Callers wait on a refresh that runs or that they just started; one that already ended
    // (a listener of refresh:start or request:queued called clear() or setTokens()) answers now.
    const ended = this.attempt ? undefined : this.lastEnd;
    if (ended)
      return 'tokens' in ended ? Promise.resolve(ended.tokens) : Promise.reject(ended.error);
    return new Promise<Tokens>((resolve, reject) => {
      const { queueTimeoutMs } = this.options;
      const waiter: Waiter = {
        resolve,
        reject,
        deadline: queueTimeoutMs > 0 ? this.clock.now() + queueTimeoutMs : Number.POSITIVE_INFINITY,
        cleanup: undefined,
      };
      if (config && !this.watchCancellation(waiter, config)) return;
      this.waiters.add(waiter);
      this.armQueueTimer();
    });
  }

  /** Rule 9: axios checks `signal` only after the interceptors, so a waiter listens itself. */
  private watchCancellation(waiter: Waiter, config: InternalAxiosRequestConfig): boolean {
    const { signal, cancelToken } = config;
    if (signal?.aborted) {
      waiter.reject(canceled(config));
      return false;
    }
    if (cancelToken?.reason) {
      waiter.reject(cancelToken.reason);
      return false;
    }
    if (!signal?.addEventListener && !cancelToken) return true;
    const onAbort = () => this.settle(waiter, false, canceled(config));
    const onCancel = (reason: unknown) => this.settle(waiter, false, reason);
    signal?.addEventListener?.('abort', onAbort);
    cancelToken?.subscribe(onCancel);
    waiter.cleanup = () => {
      signal?.removeEventListener?.('abort', onAbort);
      cancelToken?.unsubscribe(onCancel);
    };
    return true;
  }

  private settle(waiter: Waiter, ok: boolean, value: unknown): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.cleanup?.();
    if (ok) {
      waiter.resolve(value as Tokens);
      return;
    }
    if (typeof value === 'object' && value !== null) this.delivered.add(value);
    waiter.reject(value);
  }

  /**
   * Whether a waiter was rejected with `error`. A held request's rejection (often the refresh
   * call's own AxiosError with status 401) travels on through axios' response interceptors: it must
   * reach the caller as it is (rule 5), not be taken for a 401 of that request.
   */
  wasDelivered(error: object): boolean {
    return this.delivered.has(error);
  }

  private settleAll(ok: boolean, value: unknown): void {
    for (const waiter of this.waiters) this.settle(waiter, ok, value);
    this.disarmQueueTimer();
  }

  // One timer for the whole queue: waiters share queueTimeoutMs and join in time order, so the
  // first one is always the next to expire. 100k waiters cost one timer, not 100k.
  private armQueueTimer(): void {
    if (this.queueTimerArmed) return;
    const head = this.waiters.values().next();
    if (head.done || head.value.deadline === Number.POSITIVE_INFINITY) return;
    this.queueTimerArmed = true;
    this.queueTimer = this.clock.setTimeout(
      () => this.expireWaiters(),
      Math.max(0, head.value.deadline - this.clock.now()),
    );
  }

  private disarmQueueTimer(): void {
    if (!this.queueTimerArmed) return;
    this.queueTimerArmed = false;
    this.clock.clearTimeout(this.queueTimer);
  }

  private expireWaiters(): void {
    this.queueTimerArmed = false;
    const now = this.clock.now();
    const { queueTimeoutMs } = this.options;
    for (const waiter of this.waiters) {
      if (waiter.deadline > now) break;
      this.settle(
        waiter,
        false,
        new RefreshGateError(
          'QUEUE_TIMEOUT',
          `request waited more than ${queueTimeoutMs} ms for a token refresh (queueTimeoutMs)`,
        ),
      );
    }
    this.armQueueTimer();
  }

  // ---- the refresh --------------------------------------------------------------------------

  /** Starts the one refresh; callers check that none is in flight. Never rejects: it settles waiters. */
  start(reason: Reason, error: AxiosError | undefined, staleToken: string | null): void {
    const attempt: Attempt = {
      controller: new AbortController(),
      reason,
      timer: undefined,
      settled: false,
    };
    this.attempt = attempt;
    const { refreshTimeoutMs } = this.options;
    if (refreshTimeoutMs > 0) {
      attempt.timer = this.clock.setTimeout(() => {
        const timeout = new RefreshGateError(
          'REFRESH_TIMEOUT',
          `refresh did not settle within ${refreshTimeoutMs} ms (refreshTimeoutMs)`,
        );
        attempt.controller.abort(timeout);
        this.finish(attempt, { kind: 'failed', error: timeout });
      }, refreshTimeoutMs);
    }
    let running: Promise<Outcome>;
    try {
      running = this.run(attempt, error, staleToken);
    } catch (thrown) {
      // A coordinator whose runExclusive throws synchronously must not leave the gate locked.
      running = Promise.reject(thrown);
    }
    running.then(
      (outcome) => this.finish(attempt, outcome),
      (failure: unknown) => this.finish(attempt, { kind: 'failed', error: asError(failure) }),
    );
    // Last: a listener may end this refresh at once (clear(), setTokens()), and finish() must
    // then find the timer armed, to clear it.
    this.emit('refresh:start', { reason });
  }

  private run(
    attempt: Attempt,
    error: AxiosError | undefined,
    staleToken: string | null,
  ): Promise<Outcome> {
    const { store, coordinator, refresh, refreshTimeoutMs } = this.options;
    const { signal } = attempt.controller;
    return coordinator.runExclusive(
      async (): Promise<Outcome> => {
        signal.throwIfAborted();
        // Double-check under the lock: another tab or process may have refreshed while we waited.
        const latest = this.fromStore((await store.get()) ?? null);
        if (latest && latest.accessToken !== staleToken && !this.expiring(latest)) {
          return { kind: 'adopted', tokens: latest };
        }
        const context: RefreshContext = error
          ? { tokens: latest, signal, reason: attempt.reason, error }
          : { tokens: latest, signal, reason: attempt.reason };
        const result = await refresh(context);
        // Timed out, cleared or destroyed meanwhile: a late result is not stored.
        signal.throwIfAborted();
        const tokens = toTokens(result, latest, 'refresh');
        await store.set(tokens);
        this.wrote(tokens);
        this.publish(tokens);
        return { kind: 'refreshed', tokens };
      },
      { signal, timeoutMs: refreshTimeoutMs },
    );
  }

  private finish(attempt: Attempt, outcome: Outcome): void {
    if (attempt.settled) return;
    attempt.settled = true;
    this.lastEnd = outcome;
    this.clock.clearTimeout(attempt.timer);
    if (this.attempt === attempt) this.attempt = null;

    if (!('tokens' in outcome)) {
      this.settleAll(false, outcome.error);
      if (outcome.kind === 'aborted') {
        // clear(): every refresh:start still gets its end, but this is no failure of the refresh
        // (no count, no cooldown, no onRefreshFailed). destroy() removes the listeners instead.
        if (this.destroyed) return;
        this.emit('refresh:failure', {
          reason: attempt.reason,
          error: outcome.error,
          aborted: true,
        });
        return;
      }
      this.failures++;
      this.failure = { error: outcome.error, at: this.clock.now() };
      this.emit('refresh:failure', { reason: attempt.reason, error: outcome.error });
      const { onRefreshFailed, logger } = this.options;
      if (onRefreshFailed) {
        try {
          onRefreshFailed(outcome.error);
        } catch (thrown) {
          logger.warn('onRefreshFailed threw', thrown);
        }
      }
      return;
    }

    const { tokens } = outcome;
    this.cache = tokens;
    this.loaded = true;
    this.failure = null;
    if (outcome.kind === 'replaced') {
      // setTokens() during the refresh: its waiters go out with those tokens.
      this.emit('refresh:success', { reason: attempt.reason, refreshed: false, replaced: true });
    } else {
      // Tokens another member obtained are as young as our own: a 401 on them must not loop.
      this.young = { token: tokens.accessToken, at: this.clock.now() };
      if (outcome.kind === 'refreshed') this.refreshes++;
      this.emit('refresh:success', {
        reason: attempt.reason,
        refreshed: outcome.kind === 'refreshed',
      });
      this.announce(tokens);
    }
    this.settleAll(true, tokens);
  }

  /** Ends the attempt in flight without counting it as a failure (clear, setTokens, destroy). */
  private interrupt(outcome: Outcome): void {
    const attempt = this.attempt;
    if (!attempt) return;
    attempt.controller.abort(outcome.kind === 'aborted' ? outcome.error : undefined);
    this.finish(attempt, outcome);
  }

  // ---- public operations --------------------------------------------------------------------

  private assertAlive(): void {
    if (this.destroyed) throw new RefreshGateError('DESTROYED', 'the refresh gate was destroyed');
  }

  async getAccessToken(): Promise<string | null> {
    this.assertAlive();
    if (!this.attempt) {
      const tokens = await this.readTokens();
      if (!this.attempt) {
        if (!tokens || !this.wantsProactive(tokens)) return tokens?.accessToken ?? null;
        this.start('expiring', undefined, tokens.accessToken);
      }
    }
    return (await this.wait()).accessToken;
  }

  async refresh(): Promise<Tokens> {
    this.assertAlive();
    if (!this.attempt) {
      const tokens = await this.readTokens();
      if (!this.attempt) this.start('manual', undefined, tokens?.accessToken ?? null);
    }
    return this.wait();
  }

  async setTokens(input: Tokens): Promise<void> {
    this.assertAlive();
    const tokens = toTokens(input, null, 'setTokens');
    await this.options.store.set(tokens);
    this.wrote(tokens);
    this.cache = tokens;
    this.loaded = true;
    this.failure = null;
    this.young = null;
    this.publish(tokens);
    this.announce(tokens);
    // A login during a refresh wins: the refresh's waiters go out with the new tokens.
    this.interrupt({ kind: 'replaced', tokens });
  }

  async clear(): Promise<void> {
    this.assertAlive();
    // Abort first, so that a refresh finishing during the clear cannot log the user back in.
    this.interrupt({
      kind: 'aborted',
      error: canceled(
        undefined,
        'the session was cleared while this request waited for a token refresh',
      ),
    });
    await this.options.store.clear();
    this.wrote(null);
    this.cache = null;
    this.loaded = true;
    this.failure = null;
    this.young = null;
    this.publish(null);
    this.announce(null);
  }

  get state(): RefreshGateState {
    return {
      status: this.attempt ? 'refreshing' : this.coolingDown() ? 'cooldown' : 'idle',
      waiting: this.waiters.size,
      refreshes: this.refreshes,
      failures: this.failures,
    };
  }

  on(event: GateEvent, listener: Listener): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(event) === set) this.listeners.delete(event);
    };
  }

  emit(event: GateEvent, payload: unknown): void {
    if (!this.listeners.has(event)) return;
    this.pendingEvents.push([event, payload]);
    // An event raised by a listener goes out after the current one has reached every listener.
    if (this.emitting) return;
    this.emitting = true;
    try {
      for (let next = this.pendingEvents.shift(); next; next = this.pendingEvents.shift()) {
        const [name, data] = next;
        const set = this.listeners.get(name);
        if (!set) continue;
        for (const listener of [...set]) {
          try {
            listener(data);
          } catch (error) {
            this.options.logger.warn(`a '${name}' listener threw`, error);
          }
        }
      }
    } finally {
      this.emitting = false;
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const destroyed = new RefreshGateError(
      'DESTROYED',
      'the refresh gate was destroyed while this request waited',
    );
    this.interrupt({ kind: 'aborted', error: destroyed });
    this.settleAll(false, destroyed);
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    if (this.options.ownsCoordinator) this.options.coordinator.dispose?.();
    this.listeners.clear();
  }

  // ---- tokens from elsewhere ----------------------------------------------------------------

  private publishing = false;

  /** Tells the coordinator's scope; an in-process scope delivers synchronously, so the gate
   *  skips its own message instead of announcing it before its own success event. */
  private publish(tokens: Tokens | null): void {
    const { coordinator } = this.options;
    if (!coordinator.publish) return;
    this.publishing = true;
    try {
      coordinator.publish(tokens);
    } catch (error) {
      // The tokens are stored; the others will re-read them under the lock.
      this.options.logger.warn('the coordinator failed to publish new tokens', error);
    } finally {
      this.publishing = false;
    }
  }

  /** The store holds what this gate wrote: nothing heard before is ahead of it. */
  private wrote(tokens: Tokens | null): void {
    this.storeShows = tokens?.accessToken ?? null;
    this.ahead = undefined;
  }

  private heard(tokens: Tokens | null): void {
    if (this.destroyed || this.publishing) return;
    // What does the store show now? A synchronous store says at once; otherwise its last answer.
    if (!this.asyncStore) {
      try {
        const value = this.options.store.get();
        if (isThenable(value)) value.then(undefined, () => {});
        else this.storeShows = value?.accessToken ?? null;
      } catch {
        // The next read reports it.
      }
    }
    const shows = this.storeShows;
    this.ahead =
      tokens !== null && shows !== undefined && tokens.accessToken !== shows
        ? { tokens, lagging: shows }
        : undefined;
    this.cache = tokens ?? null;
    this.loaded = true;
    this.announce(this.cache);
  }

  private announce(tokens: Tokens | null): void {
    const token = tokens?.accessToken ?? null;
    if (token === this.announced) return;
    this.announced = token;
    this.emit('tokens:changed', tokens);
  }

  private guard(run: () => unknown, what: string): void {
    try {
      const result = run();
      if (isThenable(result)) {
        result.then(undefined, (error: unknown) => this.options.logger.warn(what, error));
      }
    } catch (error) {
      this.options.logger.warn(what, error);
    }
  }
}

/** Rule 11: a refresh that rejects with a non-Error still rejects its waiters with an Error. */
function asError(value: unknown): unknown {
  if (value instanceof Error || (typeof value === 'object' && value !== null && 'message' in value))
    return value;
  return new Error(`the refresh failed with a non-Error value: ${String(value)}`, { cause: value });
}
