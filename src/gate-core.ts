import type { AxiosError, AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import { type Clock, systemClock } from './clock.js';
import { Emitter } from './emitter.js';
import { RefreshGateError } from './errors.js';
import { defaultLogger, forLog } from './logger.js';
import type { ResolvedOptions } from './options.js';
import { createOriginPolicy, HOME, originFor } from './origins.js';
import {
  ended,
  Flight,
  type FlightDeps,
  isNoSession,
  type Outcome,
  type Reason,
} from './refresh-flight.js';
import { type PolicyMemory, RefreshPolicy } from './refresh-policy.js';
import { ScopeRelay } from './scope-relay.js';
import { isThenable, TokenCache } from './token-cache.js';
import { TokenPlacement } from './token-placement.js';
import { toTokens } from './tokens.js';
import type { GateEventMap, RefreshGateState, Tokens } from './types.js';
import { canceled, type Resumer, WaiterQueue } from './waiter-queue.js';

/*
 * The gate as one state machine. `#dispatch` is the only place `#state` changes; read its
 * `switch` to check a race. The parts behind it hold the mechanisms, not the decisions: the token
 * cache (token-cache.ts), when to refresh (refresh-policy.ts), the token on a request
 * (token-placement.ts), one refresh and its waiters (refresh-flight.ts, waiter-queue.ts), events
 * (emitter.ts). The interceptors read as the decision flow of one request.
 *
 *   idle ──start──▶ refreshing ──refreshed | adopted | replaced──▶ idle
 *                   refreshing ──failed──▶ cooldown ──cooldownMs──▶ idle
 *   idle | refreshing | cooldown ──setTokens──▶ idle    a flight in the way ends: replaced
 *   refreshing ──clear──▶ idle                          it ends: aborted (a cooldown stays one)
 *   refreshing ──a peer announces tokens──▶ idle        adopted (a logout in the scope: aborted)
 *   cooldown ──a timed-out flight's write lands──▶ idle  storedLate: the gate follows its store
 *   any ──destroy──▶ destroyed                           a flight ends: aborted; waiters: DESTROYED
 *
 * A flight ends once, whoever ends it first, and reports its end here as `settled`. The counters
 * beside the state (logouts, the user's words, refreshes, failures) change here too.
 */

type State =
  | { readonly status: 'idle' }
  | { readonly status: 'refreshing'; readonly flight: Flight }
  | {
      readonly status: 'cooldown';
      readonly error: unknown /** Monotonic ms. */;
      readonly at: number;
    }
  | { readonly status: 'destroyed' };

type Action =
  | { readonly type: 'start'; readonly flight: Flight; readonly error: AxiosError | undefined }
  | { readonly type: 'settled'; readonly flight: Flight; readonly outcome: Outcome }
  | { readonly type: 'set'; readonly tokens: Tokens }
  | { readonly type: 'clear' }
  | {
      readonly type: 'heard';
      readonly tokens: Tokens | null;
      /** When it was heard, if before now (while parked). */
      readonly at?: { readonly now: number; readonly elapsed: number };
    }
  | { readonly type: 'storedLate'; readonly flight: Flight; readonly tokens: Tokens }
  | { readonly type: 'destroy' };

const IDLE: State = { status: 'idle' };
const DESTROYED: State = { status: 'destroyed' };

/** How many times a request has been replayed; a plain key, so axios' mergeConfig carries it. */
export const REPLAYS = 'refreshGateReplays';

export const replaysOf = (config: InternalAxiosRequestConfig): number =>
  Number((config as unknown as Record<string, unknown>)[REPLAYS] ?? 0);

const destroyed = () => new RefreshGateError('DESTROYED', 'the refresh gate was destroyed');
/** How a logout (here or elsewhere in the scope) ends a refresh's waiters and a pending replay. */
const loggedOut = (config?: InternalAxiosRequestConfig) =>
  canceled(config, 'the session was cleared (logout)');

/**
 * Errors the gates handed to their waiters (see {@link GateCore.wasDelivered}): one set for all,
 * since an error one gate delivered is no news to any gate's interceptor.
 */
const DELIVERED = new WeakSet<object>();

/**
 * What a group's idle gate keeps while parked (see {@link GateCore.park}): what its next machine
 * needs to go on as this one would. The tokens are in the store.
 */
export interface Parked {
  readonly refreshes: number;
  readonly failures: number;
  /** Requests still out carry the session they were sent in: the count goes on. */
  readonly logouts: number;
  readonly noSession: boolean;
  readonly announced: string | null | undefined;
  readonly policy: PolicyMemory;
  /** What it knew of an async store: served by the next machine as it would have been. */
  readonly cache: { readonly tokens: Tokens | null } | undefined;
  /** Its subscriptions, recording what the scope says until the next machine takes them over. */
  readonly relay: ScopeRelay | undefined;
}

/**
 * The state of one gate and everything its interceptors share. Internal: users get the
 * {@link RefreshGate} facade.
 */

export class GateCore implements Resumer<Tokens> {
  readonly options: ResolvedOptions;
  readonly clock: Clock = systemClock;
  readonly #origins: (config: InternalAxiosRequestConfig, instance: AxiosInstance) => string | null;

  #state: State = IDLE;
  readonly #cache: TokenCache;
  readonly #policy: RefreshPolicy;
  readonly #placement: TokenPlacement;
  readonly #emitter: Emitter<GateEventMap>;
  /** Errors waiters were rejected with (see {@link wasDelivered}). */
  readonly #delivered = DELIVERED;
  /** Requests and calls waiting for an async store's first read: waiters like any other. */
  /** Made at an async store's first read (a sync store never needs one). */
  #loading: WaiterQueue<Tokens | null> | undefined;
  #watchedRead: Promise<Tokens | null> | undefined;
  /** Logouts so far (here or heard from the scope): a request sent before one is of an ended session. */
  #logouts = 0;
  /** The user's words so far (setTokens, clear): a flight's late write yields to any of them. */
  #words = 0;
  /** The last flight started: one that timed out while storing may still hold the lock. */
  #lastFlight: Flight | undefined;
  #refreshes = 0;
  #failures = 0;
  /** The access token last announced by `tokens:changed`. */
  #announced: string | null | undefined;
  /**
   * The last refresh found no session (the refresh resolved null) and no tokens came since: a
   * 401 on a request sent without a token reaches its caller as it is.
   */
  #noSession = false;
  /** What this gate is publishing now: an in-process scope delivers it to its own sender too. */
  #publishing: { readonly tokens: Tokens | null } | undefined;
  /** Words heard from the scope while a transition of this gate ran: dispatched once it ended. */
  readonly #heardLater: Array<Tokens | null> = [];
  #depth = 0;
  /** `subscribe` listeners, and the snapshot they were last told of (see {@link state}). */
  #listeners: Set<() => void> | undefined;
  #snapshot: RefreshGateState | undefined;
  #told: RefreshGateState | undefined;
  #cooldownTimer: unknown;
  /** Its store's and coordinator's subscriptions (none without `subscribe`). */
  #relay: ScopeRelay | undefined;
  /**
   * Queues of ended flights whose held requests still wait for their agent's pool (see
   * WaiterQueue's pacing): waiters like any other, ended by destroy() and a logout.
   */
  #releasing: Array<WaiterQueue<Tokens>> | undefined;
  #warnedUnscoped = false;
  readonly #flightDeps: FlightDeps;

  constructor(options: ResolvedOptions, parked?: Parked) {
    this.options = options;
    const { store, coordinator, initialTokens, logger } = options;
    this.#cache = new TokenCache(store, () => this.#changed());
    this.#policy = new RefreshPolicy(options, this.clock, parked?.policy);
    this.#placement = options.placement ?? new TokenPlacement(options);
    if (parked) {
      this.#refreshes = parked.refreshes;
      this.#failures = parked.failures;
      this.#logouts = parked.logouts;
      this.#noSession = parked.noSession;
      this.#announced = parked.announced;
      if (parked.cache) this.#cache.restore(parked.cache);
    }
    this.#flightDeps = {
      options,
      clock: this.clock,
      cache: this.#cache,
      policy: this.#policy,
      delivered: this.#delivered,
      changed: () => this.#changed(),
      ended: (flight, outcome) => this.#dispatch({ type: 'settled', flight, outcome }),
      storedLate: (flight, tokens) => this.#dispatch({ type: 'storedLate', flight, tokens }),
      retrying: (flight, retry) => {
        if (this.#state.status === 'refreshing' && this.#state.flight === flight)
          this.#emitter.emit('refresh:retry', { reason: flight.reason, ...retry });
      },
    };
    this.#emitter = new Emitter((event, error) =>
      logger.warn(`a '${event}' listener threw`, this.#forLog(error)),
    );
    this.#origins =
      options.origins ??
      createOriginPolicy(options.allowedOrigins, (origin) => {
        if (this.#warnedUnscoped) return;
        this.#warnedUnscoped = true;
        logger.warn(
          `no token attached to a request for ${origin}: an absolute URL needs the instance's baseURL on its origin, or allowedOrigins`,
        );
      });
    if (initialTokens) {
      this.#cache.use(initialTokens);
      this.#announced = initialTokens.accessToken;
      this.#cache.persist(initialTokens).then(undefined, (error: unknown) => {
        logger.warn('storing initialTokens failed', this.#forLog(error));
      });
    }
    const hear = (tokens: Tokens | null) => {
      const publishing = this.#publishing;
      // Its own announcement (a scope may deliver a copy): skipped.
      if (publishing && publishing.tokens?.accessToken === tokens?.accessToken) return;
      if (this.#depth > 0) this.#heardLater.push(tokens);
      else this.#dispatch({ type: 'heard', tokens });
    };
    // Subscribed once; a parked gate's next machine takes the subscriptions over.
    const relay =
      parked?.relay ??
      (store.subscribe || coordinator.subscribe
        ? new ScopeRelay(store, coordinator, this.clock)
        : undefined);
    this.#relay = relay;
    const missed = relay?.take();
    relay?.attach((tokens) => {
      if (!this.#cache.isEcho(tokens)) hear(tokens);
    }, hear);
    if (missed) {
      // What the scope said while the gate was parked, heard now as it would have been then.
      this.#logouts += missed.logoutsMissed;
      this.#words += missed.logoutsMissed;
      if (missed.tokensMissed) this.#noSession = false;
      for (const { tokens, now, elapsed } of missed.heard)
        this.#dispatch({ type: 'heard', tokens, at: { now, elapsed } });
    }
  }

  // ---- the machine ----------------------------------------------------------------------------

  #dispatch(action: Action): void {
    this.#depth++;
    try {
      this.#transition(action);
    } finally {
      this.#depth--;
    }
    while (this.#depth === 0 && this.#heardLater.length > 0) {
      this.#dispatch({ type: 'heard', tokens: this.#heardLater.shift() ?? null });
    }
    if (this.#depth === 0) this.#changed();
  }

  #transition(action: Action): void {
    const state = this.#state;
    if (state.status === 'destroyed') return;
    const flight = state.status === 'refreshing' ? state.flight : undefined;
    switch (action.type) {
      case 'start': {
        if (flight) return;
        const next = action.flight;
        this.#lastFlight = next;
        this.#state = { status: 'refreshing', flight: next };
        next.start(action.error);
        // Last: a listener may end this flight at once (clear(), setTokens()); it is armed by now.
        this.#emitter.emit('refresh:start', { reason: next.reason });
        return;
      }

      case 'settled': {
        if (action.flight !== flight) return;
        const { outcome } = action;
        const { reason } = flight;
        switch (outcome.kind) {
          case 'refreshed':
          case 'adopted': {
            this.#state = IDLE;
            this.#noSession = false;
            this.#cache.use(outcome.tokens);
            // Tokens a peer obtained are as young as this gate's own: a 401 on them must not loop.
            const refreshed = outcome.kind === 'refreshed';
            this.#policy.obtained(outcome.tokens, outcome.kind);
            // The scope hears of it before any listener can give a later word (as set and clear).
            if (refreshed) {
              this.#refreshes++;
              this.#publish(outcome.tokens);
            }
            // Waiters first: they resume after this transition, and take the gate's token as it
            // is then (a listener below may clear() or destroy()).
            this.#release(flight, outcome.tokens);
            this.#emitter.emit('refresh:success', { reason, refreshed });
            this.#announce(outcome.tokens);
            return;
          }
          case 'replaced':
            // setTokens() during the refresh: its waiters go out with those tokens.
            this.#state = IDLE;
            this.#release(flight, outcome.tokens);
            this.#emitter.emit('refresh:success', { reason, refreshed: false, replaced: true });
            return;
          case 'failed': {
            this.#state = { status: 'cooldown', error: outcome.error, at: this.clock.elapsed() };
            this.#failures++;
            const stored = outcome.tokens;
            if (stored) {
              // Stored, since the server rotated: the gate and the scope follow the store.
              this.#cache.use(stored);
              this.#policy.obtained(stored, 'refreshed');
              this.#publish(stored);
              this.#announce(stored);
            }
            flight.waiters.rejectAll(outcome.error);
            const terminal = outcome.terminal ?? this.#terminal(outcome.error);
            this.#emitter.emit('refresh:failure', { reason, error: outcome.error, terminal });
            const { onRefreshFailed, logger } = this.options;
            if (onRefreshFailed) {
              try {
                onRefreshFailed(outcome.error, { terminal });
              } catch (thrown) {
                logger.warn('onRefreshFailed threw', this.#forLog(thrown));
              }
            }
            return;
          }
          case 'nosession':
            // Nothing to refresh with: not a failure (no count, no cooldown, no onRefreshFailed).
            // Its waiters take it as their own answer: a 401 rejects as itself, a held request
            // goes out as it is. Until tokens come, a 401 without a token is not refreshed for.
            this.#state = IDLE;
            this.#noSession = true;
            flight.waiters.rejectAll(outcome.error);
            this.#emitter.emit('refresh:failure', {
              reason,
              error: outcome.error,
              noSession: true,
            });
            return;
          case 'aborted':
            // clear(): every refresh:start still gets its end, but no failure of the refresh (no
            // count, no cooldown, no onRefreshFailed). destroy() ends flights before it gets here.
            this.#state = IDLE;
            flight.waiters.rejectAll(outcome.error);
            this.#emitter.emit('refresh:failure', { reason, error: outcome.error, aborted: true });
            return;
        }
        return;
      }

      // The user's word wins over a refresh in flight, from the moment it is given: the gate
      // forgets or takes the tokens, the scope hears of it (its members end their own refreshes),
      // and only then do events run, whose listeners may give a later word.
      case 'set':
        this.#words++;
        this.#noSession = false;
        this.#cache.use(action.tokens);
        this.#policy.reset(action.tokens.accessToken);
        this.#publish(action.tokens);
        this.#announce(action.tokens);
        // A login starts afresh: no cooldown.
        if (flight) flight.end({ kind: 'replaced', tokens: action.tokens });
        else this.#state = IDLE;
        return;

      case 'clear':
        this.#words++;
        this.#logouts++;
        this.#cache.use(null);
        this.#policy.reset(null);
        this.#publish(null);
        // A cooldown stays: a logout on failure must not let the next 401 refresh at once.
        flight?.end({ kind: 'aborted', error: loggedOut() });
        this.#endReleasing(loggedOut());
        this.#announce(null);
        return;

      case 'heard': {
        const { tokens } = action;
        // A word of the scope: a timed-out flight's late write yields to it (storedLate).
        this.#words++;
        if (tokens) this.#noSession = false;
        this.#cache.heard(tokens);
        if (tokens === null) {
          this.#logouts++;
          this.#endReleasing(loggedOut());
        }
        // A peer's logout ends this refresh as clear() would; a peer's tokens make it needless.
        if (flight && tokens === null) flight.end({ kind: 'aborted', error: loggedOut() });
        else if (
          flight &&
          tokens &&
          tokens.accessToken !== flight.staleToken &&
          this.#policy.freshness(tokens) !== 'expired'
        ) {
          this.options.logger.debug('adopted: tokens announced by the scope');
          flight.end({ kind: 'adopted', tokens });
        } else if (tokens && tokens.accessToken !== this.#announced) {
          // A login elsewhere, perhaps: not young, only its lifetime counts.
          this.#policy.obtained(tokens, 'heard', action.at);
        }
        this.#announce(tokens);
        return;
      }

      case 'storedLate': {
        // A refresh that timed out while storing: the server rotated and the store holds its
        // tokens, so the gate takes them too, unless the user's word came since.
        if (action.flight.since !== this.#words) return;
        if (state.status === 'cooldown') this.#state = IDLE;
        this.#cache.use(action.tokens);
        this.#policy.obtained(action.tokens, 'refreshed');
        this.#publish(action.tokens);
        this.#announce(action.tokens);
        return;
      }

      case 'destroy': {
        this.#state = DESTROYED;
        this.#cache.close();
        // A timed-out flight may still keep the lock while its write lands: let go of it.
        this.#lastFlight?.release();
        // Listeners go first: nothing is announced on a dead gate, and a logout-on-failure
        // listener must not run against it.
        this.#emitter.clear();
        this.#listeners = undefined;
        this.clock.clearTimeout(this.#cooldownTimer);
        const error = destroyed();
        if (flight) {
          flight.waiters.rejectAll(error);
          flight.end({ kind: 'aborted', error });
        }
        this.#loading?.rejectAll(error);
        this.#endReleasing(error);
        this.#relay?.stop();
        const { coordinator, ownsCoordinator } = this.options;
        if (ownsCoordinator) this.#quietly(() => coordinator.dispose?.());
        return;
      }
    }
  }

  /** Resolves a flight's waiters; those paced for their pool stay waiters of this gate. */
  #release(flight: Flight, tokens: Tokens): void {
    const { waiters } = flight;
    waiters.resolveAll(tokens);
    if (!waiters.pacing) return;
    this.#releasing = (this.#releasing ?? []).filter((queue) => queue.pacing);
    this.#releasing.push(waiters);
  }

  /** Held requests still waiting for their pool end with `error` (a logout, destroy()). */
  #endReleasing(error: unknown): void {
    const releasing = this.#releasing;
    if (!releasing) return;
    this.#releasing = undefined;
    for (const queue of releasing) queue.rejectAll(error);
  }

  /** Held requests of ended flights still waiting for their pool. */
  #paced(): number {
    let waiting = 0;
    for (const queue of this.#releasing ?? []) waiting += queue.size;
    return waiting;
  }

  // ---- what the interceptors ask ---------------------------------------------------------------

  get destroyed(): boolean {
    return this.#state.status === 'destroyed';
  }

  /** The refresh in flight, if any. */
  get flight(): Flight | undefined {
    const state = this.#state;
    return state.status === 'refreshing' ? state.flight : undefined;
  }

  get coolingDown(): boolean {
    const state = this.#state;
    return state.status === 'cooldown' && this.clock.elapsed() - state.at < this.options.cooldownMs;
  }

  cooldownError(): RefreshGateError {
    const state = this.#state as Extract<State, { status: 'cooldown' }>;
    const { cooldownMs } = this.options;
    const left = state.at + cooldownMs - this.clock.elapsed();
    return new RefreshGateError(
      'COOLDOWN',
      `the last refresh failed ${cooldownMs - left} ms ago; no new refresh for ${left} ms (cooldownMs)`,
      { cause: state.error },
    );
  }

  destroyedError(): RefreshGateError {
    return destroyed();
  }

  /**
   * Rules 6 and 10: the flight to wait for before `tokens` are used, or `undefined` to use them.
   * A token past its own expiry is never sent (during a cooldown: COOLDOWN); one about to expire
   * is refreshed first, unless the gate cools down or the caller resumes from a refresh just now.
   */
  refreshFirst(tokens: Tokens, resumed = false): Flight | undefined {
    this.#policy.seen(tokens);
    const freshness = this.#policy.freshness(tokens);
    if (freshness === 'fresh' || (freshness === 'expiring' && (resumed || this.coolingDown)))
      return undefined;
    if (this.coolingDown) throw this.cooldownError();
    return this.flight ?? this.start('expiring', undefined, tokens.accessToken);
  }

  /** The tokens to decide on: now, or (an async store's first read) as a waiter of that read. */
  tokens(config?: InternalAxiosRequestConfig): Tokens | null | Promise<Tokens | null> {
    const read = this.#cache.read();
    if (!isThenable<Tokens | null>(read)) return read;
    if (this.#watchedRead !== read) {
      // One queue per read: a waiter of the next read never hears how this one ended.
      this.#watchedRead = read;
      const queue = this.#loadQueue();
      this.#loading = queue;
      read.then(
        (tokens) => queue.resolveAll(tokens),
        (error: unknown) => queue.rejectAll(error),
      );
    }
    this.#loading ??= this.#loadQueue();
    return this.#loading.wait(config);
  }

  /** The tokens as they are now, never waiting or failing: after a wait, what a clear() left. */
  current(): Tokens | null {
    return this.#cache.peek();
  }

  #loadQueue(): WaiterQueue<Tokens | null> {
    const { queueTimeoutMs } = this.options;
    return new WaiterQueue(
      this.clock,
      queueTimeoutMs,
      "the token store's first read",
      this.#delivered,
      () => this.#changed(),
    );
  }

  /** Starts the one refresh (rules 1, 3, 10), or finds it running; either way, the flight to join. */
  start(
    reason: Reason,
    error: AxiosError | undefined,
    staleToken: string | null | undefined,
  ): Flight {
    const running = this.flight;
    if (running) return running;
    if (this.destroyed) throw destroyed();
    this.options.logger.debug(`refresh: ${reason}`);
    const flight = new Flight(this.#flightDeps, reason, staleToken, this.#words);
    // A refresh:start listener may end it at once; join() then answers with its end.
    this.#dispatch({ type: 'start', flight, error });
    return flight;
  }

  /** Waits for `flight`; a flight that already ended answers at once with its end. */
  join(flight: Flight, config?: InternalAxiosRequestConfig): Promise<Tokens> {
    const outcome = flight.outcome;
    if (!outcome) return flight.waiters.wait(config);
    if (ended(outcome)) return Promise.resolve(outcome.tokens);
    if (typeof outcome.error === 'object' && outcome.error !== null)
      this.#delivered.add(outcome.error);
    return Promise.reject(outcome.error);
  }

  /** Waits for `flight` as a request queued after its 401. */
  wait(config: InternalAxiosRequestConfig, flight: Flight): Promise<Tokens> {
    this.#queued(config, 'unauthorized');
    return this.join(flight, config);
  }

  #queued(config: InternalAxiosRequestConfig, reason: 'held' | 'unauthorized'): void {
    this.options.logger.debug(
      `${reason === 'held' ? 'held' : 'queued'} for the refresh`,
      this.where(config),
    );
    this.#emitter.emit('request:queued', { config, reason });
  }

  /**
   * Rule 2: waits for the refresh in flight, then carries the gate's token as it is when the
   * request resumes: a listener of the refresh's end may have called clear() or destroy().
   */
  hold(config: InternalAxiosRequestConfig, flight: Flight): Promise<InternalAxiosRequestConfig> {
    this.#queued(config, 'held');
    // The flight's queue resumes it (see {@link resumed}); one that already ended answers now.
    // A thenable, not a promise (see Held): axios' chain adopts it, and nothing else calls it.
    if (!flight.outcome)
      return flight.waiters.hold(config, this) as unknown as Promise<InternalAxiosRequestConfig>;
    return this.join(flight, config).then(
      (ended) => this.resumed(config, ended),
      (error: unknown) => this.failed(config, error),
    );
  }

  /** A held request, once its flight ended with `ended`: sent with the gate's token as it is now. */
  resumed(
    config: InternalAxiosRequestConfig,
    ended: Tokens,
  ): InternalAxiosRequestConfig | Promise<InternalAxiosRequestConfig> {
    if (this.destroyed) throw destroyed();
    // Rule 2: released late (at its pool's pace) into another refresh: it waits for that one.
    const running = this.flight;
    if (running) return this.hold(config, running);
    const tokens = this.#resumeWith(ended);
    if (tokens === null) throw loggedOut(config);
    // What the flight ended with (a login, say) may be past its expiry: never sent.
    const next = this.refreshFirst(tokens, true);
    if (next) return this.hold(config, next);
    this.place(config, tokens);
    return config;
  }

  /**
   * A held request, once its flight failed with `error`. No session: it goes out as it is (a
   * login, say), with whatever token is now, unless that one is past its expiry (never sent,
   * rule 6).
   */
  failed(config: InternalAxiosRequestConfig, error: unknown): InternalAxiosRequestConfig {
    if (!isNoSession(error) || this.destroyed) throw error;
    const tokens = this.#cache.peek();
    this.place(config, tokens && this.#policy.freshness(tokens) !== 'expired' ? tokens : null);
    return config;
  }

  /** Whether a 401 on a request sent without a token is a login's own answer (no session). */
  get noSession(): boolean {
    return this.#noSession;
  }

  /**
   * The tokens to resume with after a flight ended with `ended`: the gate's as they are now (a
   * listener may have cleared or given a login), unless a store that applies writes later (a
   * React state, say) still shows an expired token the flight has replaced: then the flight's.
   */
  #resumeWith(ended: Tokens): Tokens | null {
    const now = this.#cache.peek();
    return now !== null &&
      now.accessToken !== ended.accessToken &&
      this.#policy.freshness(now) === 'expired'
      ? ended
      : now;
  }

  /** Rules 12 and 19: whether `config`, sent through `instance`, may carry the token. */
  allowed(config: InternalAxiosRequestConfig, instance: AxiosInstance): boolean {
    return this.#origins(config, instance) !== null;
  }

  /**
   * Rule 19: the `beforeRedirect` for `instance`'s defaults, wrapping the user's `user`; see
   * {@link TokenPlacement.guardFor}.
   */
  redirectGuard(
    instance: AxiosInstance,
    user: InternalAxiosRequestConfig['beforeRedirect'],
  ): NonNullable<InternalAxiosRequestConfig['beforeRedirect']> {
    return this.#placement.guardFor(
      user,
      (origin) => this.#origins({ url: origin } as InternalAxiosRequestConfig, instance) !== null,
    );
  }

  /** Rule 20: the body the caller gave, kept for a replay (see {@link TokenPlacement.keepBody}). */
  keepBody(config: InternalAxiosRequestConfig): void {
    this.#placement.keepBody(config);
  }

  restoreBody(config: InternalAxiosRequestConfig): void {
    this.#placement.restoreBody(config);
  }

  bodyOf(config: InternalAxiosRequestConfig): unknown {
    return this.#placement.bodyOf(config);
  }

  /** A request of another origin: untouched, with the user's own redirect hook (rule 12). */
  passes(config: InternalAxiosRequestConfig): InternalAxiosRequestConfig {
    this.#placement.unguard(config);
    return config;
  }

  /** An error as the logger may see it: see {@link forLog}; the tokens held are masked. */
  #forLog(error: unknown): unknown {
    const tokens = this.#cache.peek();
    return forLog(error, [tokens?.accessToken, tokens?.refreshToken]);
  }

  /** What a log line says of `config`: its method and origin, never its path or query. */
  where(config: InternalAxiosRequestConfig): string {
    // Parsing costs: a storm of held requests with the default logger (which drops debug) skips it.
    if (this.options.logger === defaultLogger) return '';
    const origin = originFor(config);
    return `${(config.method ?? 'get').toUpperCase()} ${origin === HOME ? '(a relative URL)' : origin}`;
  }

  /** Puts the current token on `config`. A replay whose session was cleared meanwhile is canceled. */
  place(config: InternalAxiosRequestConfig, tokens: Tokens | null): void {
    if (tokens === null && replaysOf(config) > 0) {
      // It carries the token it was first sent with (a header, or wherever applyToken put it).
      throw loggedOut(config);
    }
    this.#placement.place(config, tokens?.accessToken ?? null, this.#logouts);
  }

  /** The refresh call itself: the token if one is known, never a wait (rule 7). */
  placeForRefreshCall(config: InternalAxiosRequestConfig): InternalAxiosRequestConfig {
    this.#placement.place(config, this.#cache.peek()?.accessToken ?? null, this.#logouts);
    return config;
  }

  isRefreshCall(config: InternalAxiosRequestConfig): boolean {
    return (
      config.skipAuthRefresh === true ||
      (config.signal !== undefined && config.signal === this.flight?.signal)
    );
  }

  sentWith(config: object): string | null | undefined {
    return this.#placement.sentWith(config);
  }

  /** Rule 17: `config` carried a token of a session that was cleared since. */
  clearedSince(config: object): boolean {
    const session = this.#placement.sessionOf(config);
    return (
      session !== undefined && session !== this.#logouts && this.#placement.sentWith(config) != null
    );
  }

  /** A response to `config` that asks for no refresh: the token it carried works. */
  accepted(config: object): void {
    this.#policy.accepted(this.#placement.sentWith(config));
  }

  /** A response from an origin the token goes to: its `Date` tells the server's clock. */
  answered(
    response: { readonly config: InternalAxiosRequestConfig; readonly headers?: unknown },
    instance: AxiosInstance,
  ): void {
    const skew = this.options.clockSkew;
    if (!skew) return;
    // Within the same second the header is the same: nothing to learn, and nothing to decide.
    // A property read: axios keeps the lower-case names Node, fetch and XHR give (its `get` walks
    // every header, on every response).
    const date = (response.headers as { date?: unknown } | undefined)?.date;
    if (!skew.isNew(date) || !response.config || !this.allowed(response.config, instance)) return;
    skew.observe(date, this.clock.now());
  }

  /** Rule 6's loop guard: a 401 for the token just obtained, which no response accepted yet. */
  refuses(token: string): boolean {
    return this.#policy.refuses(token);
  }

  triggers(error: AxiosError): boolean {
    const { shouldRefresh, statusCodes, logger } = this.options;
    if (shouldRefresh) {
      try {
        return shouldRefresh(error) === true;
      } catch (thrown) {
        logger.warn('shouldRefresh threw; not refreshing for this response', this.#forLog(thrown));
        return false;
      }
    }
    const status = error.response?.status;
    return status !== undefined && statusCodes.includes(status);
  }

  /**
   * Whether a waiter was rejected with `error`. A held request's rejection (often the refresh
   * call's own AxiosError with status 401) travels on through axios' response interceptors: it must
   * reach the caller as it is (rule 5), not be taken for a 401 of that request.
   */
  wasDelivered(error: object): boolean {
    return this.#delivered.has(error);
  }

  emitReplayed(config: InternalAxiosRequestConfig, replays: number): void {
    this.#emitter.emit('request:replayed', { config, replays });
  }

  // ---- the public operations -----------------------------------------------------------------

  #assertAlive(): void {
    if (this.destroyed) throw destroyed();
  }

  async getAccessToken(): Promise<string | null> {
    this.#assertAlive();
    let flight = this.flight;
    if (!flight) {
      await this.tokens();
      this.#assertAlive();
      // As they are now, not as read: a clear() may have come while this call waited.
      const tokens = this.#cache.peek();
      flight = this.flight;
      if (!flight) {
        if (!tokens) return null;
        flight = this.refreshFirst(tokens);
        if (!flight) return tokens.accessToken;
      }
    }
    for (;;) {
      let ended: Tokens;
      try {
        ended = await this.join(flight);
      } catch (error) {
        if (!isNoSession(error)) throw error;
        this.#assertAlive();
        // No session: the token there is now, unless it is past its expiry (rule 6).
        const now = this.#cache.peek();
        return now && this.#policy.freshness(now) !== 'expired' ? now.accessToken : null;
      }
      this.#assertAlive();
      const tokens = this.#resumeWith(ended);
      if (!tokens) return null;
      const next = this.refreshFirst(tokens, true);
      if (!next) return tokens.accessToken;
      flight = next;
    }
  }

  async refresh(): Promise<Tokens> {
    this.#assertAlive();
    // Not a waiter of any queue: bounded by refreshTimeoutMs only (rule 18). While an async
    // store's first read runs, the token it replaces is unknown: it refreshes, never adopts.
    const stale = this.#cache.knownToken();
    // Started a tick later, as a read would be: a destroy() in the caller's tick means no refresh.
    await undefined;
    this.#assertAlive();
    const flight = this.flight;
    // A refresh:failure listener that calls refresh() must not loop on a failing endpoint.
    if (!flight && this.coolingDown) throw this.cooldownError();
    return (flight ?? this.start('manual', undefined, stale)).result();
  }

  async setTokens(input: Tokens): Promise<void> {
    this.#assertAlive();
    const tokens = toTokens(input, null, 'setTokens');
    // Issued before any event runs, so a later word given from a listener is written after it.
    const written = this.#cache.persist(tokens);
    this.#dispatch({ type: 'set', tokens });
    await written;
  }

  async clear(): Promise<void> {
    this.#assertAlive();
    const written = this.#cache.persist(null);
    this.#dispatch({ type: 'clear' });
    await written;
  }

  destroy(): void {
    this.#dispatch({ type: 'destroy' });
  }

  /**
   * A group's gate that nothing uses any more gives up its machine: nothing runs, waits, listens
   * or is owed (no refresh, cooldown, waiter, listener, pending write or first read, no late write
   * of a timed-out refresh), so a machine made from what this returns goes on as this one would.
   * A gate that hears its scope (a store or coordinator with `subscribe`) goes on listening while
   * parked, and its next machine hears what was said meanwhile.
   * This one is then done (as if destroyed, without ending anything or disposing of its lock).
   * `undefined`: not now.
   */
  park(): Parked | undefined {
    const state = this.#state;
    if (
      (state.status !== 'idle' && (state.status !== 'cooldown' || this.coolingDown)) ||
      this.#depth > 0 ||
      this.#heardLater.length > 0 ||
      (this.#listeners?.size ?? 0) > 0 ||
      this.#emitter.listening ||
      (this.#loading?.size ?? 0) > 0 ||
      this.#paced() > 0 ||
      !this.#cache.settled ||
      (this.#lastFlight !== undefined && !this.#lastFlight.done)
    )
      return undefined;
    this.#state = DESTROYED;
    this.#cache.close();
    // Its subscriptions stay, recording for the next machine.
    this.#relay?.park();
    return {
      refreshes: this.#refreshes,
      failures: this.#failures,
      logouts: this.#logouts,
      noSession: this.#noSession,
      announced: this.#announced,
      policy: this.#policy.memory(),
      cache: this.#cache.memory(),
      relay: this.#relay,
    };
  }

  /** The same object until a field changes (`useSyncExternalStore` needs no more). */
  get state(): RefreshGateState {
    const flight = this.flight;
    const token = this.destroyed ? null : this.#cache.knownToken();
    const next: RefreshGateState = {
      status: flight ? 'refreshing' : this.coolingDown ? 'cooldown' : 'idle',
      waiting: (this.#loading?.size ?? 0) + (flight?.waiters.size ?? 0) + this.#paced(),
      refreshes: this.#refreshes,
      failures: this.#failures,
      signedIn: token === undefined ? null : token !== null,
    };
    const last = this.#snapshot;
    if (
      last?.status === next.status &&
      last.waiting === next.waiting &&
      last.refreshes === next.refreshes &&
      last.failures === next.failures &&
      last.signedIn === next.signedIn
    )
      return last;
    this.#snapshot = next;
    return next;
  }

  /** The tokens held now: `undefined` until an async store's first read answered. */
  get held(): Tokens | null | undefined {
    if (this.destroyed) return null;
    return this.#cache.knownToken() === undefined ? undefined : this.#cache.peek();
  }

  subscribe(listener: () => void): () => void {
    if (this.destroyed) return () => {};
    this.#listeners ??= new Set();
    const listeners = this.#listeners;
    if (listeners.size === 0) this.#told = this.state;
    listeners.add(listener);
    this.#watchCooldown(this.state);
    return () => {
      if (!listeners.delete(listener) || listeners.size > 0) return;
      // Nobody to tell of a cooldown's end: its timer goes.
      this.clock.clearTimeout(this.#cooldownTimer);
      this.#cooldownTimer = undefined;
    };
  }

  /** A cooldown's end changes the state too: a timer tells of it, while anyone listens. */
  #watchCooldown(state: RefreshGateState): void {
    if (state.status !== 'cooldown' || this.#cooldownTimer !== undefined) return;
    const cooldown = this.#state as Extract<State, { status: 'cooldown' }>;
    this.#cooldownTimer = this.clock.setTimeout(
      () => {
        this.#cooldownTimer = undefined;
        this.#changed();
      },
      Math.max(0, cooldown.at + this.options.cooldownMs - this.clock.elapsed()),
    );
    (this.#cooldownTimer as { unref?: () => void } | undefined)?.unref?.();
  }

  /** Tells the listeners if the state changed. */
  #changed(): void {
    // Mid-transition (a queue settling its waiters): #dispatch tells once the transition is over.
    const listeners = this.#listeners;
    if (!listeners || listeners.size === 0 || this.#depth > 0) return;
    const state = this.state;
    this.#watchCooldown(state);
    if (state === this.#told) return;
    this.#told = state;
    for (const listener of [...listeners]) {
      // A listener's destroy() (or unsubscribe) stops the delivery to the others.
      if (this.#listeners !== listeners || !listeners.has(listener)) continue;
      try {
        listener();
      } catch (error) {
        this.options.logger.warn('a subscribe listener threw', this.#forLog(error));
      }
    }
  }

  on<E extends keyof GateEventMap>(
    event: E,
    listener: (payload: GateEventMap[E]) => void,
  ): () => void {
    return this.#emitter.on(event, listener);
  }

  // ---- telling the scope ----------------------------------------------------------------------

  #quietly(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.options.logger.warn('cleaning up on destroy() failed', this.#forLog(error));
    }
  }

  /** Whether a failure ends the session, by the app's `isTerminal` (one that throws: it does). */
  #terminal(error: unknown): boolean {
    try {
      return this.options.isTerminal(error) !== false;
    } catch (thrown) {
      this.options.logger.warn(
        'isTerminal threw; the failure counts as terminal',
        this.#forLog(thrown),
      );
      return true;
    }
  }

  #publish(tokens: Tokens | null): void {
    const { coordinator, logger } = this.options;
    if (!coordinator.publish) return;
    const outer = this.#publishing;
    this.#publishing = { tokens };
    try {
      coordinator.publish(tokens);
    } catch (error) {
      // The tokens are stored; the others will re-read them under the lock.
      logger.warn('the coordinator failed to publish new tokens', this.#forLog(error));
    } finally {
      this.#publishing = outer;
    }
  }

  #announce(tokens: Tokens | null): void {
    const token = tokens?.accessToken ?? null;
    if (token === this.#announced) return;
    this.#announced = token;
    this.#emitter.emit('tokens:changed', tokens);
  }
}
