import type { AxiosError } from 'axios';
import type { Clock } from './clock.js';
import { RefreshGateError } from './errors.js';
import { jwtTime } from './jwt.js';
import { forLog } from './logger.js';
import type { ResolvedOptions } from './options.js';
import type { RefreshPolicy } from './refresh-policy.js';
import { retryDelay } from './refresh-retry.js';
import type { TokenCache } from './token-cache.js';
import { readTokens } from './token-shape.js';
import { toTokens } from './tokens.js';
import type { HeldLock, RefreshContext, Tokens } from './types.js';
import { WaiterQueue } from './waiter-queue.js';

export type Reason = RefreshContext['reason'];

/**
 * How a flight ended: it stored new tokens (`refreshed`), found newer ones under the lock or heard
 * them from its scope (`adopted`), was superseded by `setTokens()` (`replaced`), failed, or was
 * ended by `clear()` or `destroy()` (`aborted`).
 */
export type Outcome =
  | { readonly kind: 'refreshed' | 'adopted' | 'replaced'; readonly tokens: Tokens }
  | {
      readonly kind: 'failed' | 'aborted' | 'nosession';
      readonly error: unknown;
      /** Failed, yet stored: the gate takes them (a rotated pair expired on arrival). */
      readonly tokens?: Tokens;
      /** A failure: whether it ends the session, judged on the refresh's own rejection. */
      readonly terminal?: boolean;
    };

/** A flight that ended with tokens to go on with (a failed one may carry stored tokens: not those). */
export const ended = (
  outcome: Outcome,
): outcome is Extract<Outcome, { kind: 'refreshed' | 'adopted' | 'replaced' }> =>
  outcome.kind === 'refreshed' || outcome.kind === 'adopted' || outcome.kind === 'replaced';

/** Whether `error` says there is no session to refresh (the refresh's own word). */
export const isNoSession = (error: unknown): boolean =>
  (error as { name?: unknown; code?: unknown } | null)?.name === 'RefreshGateError' &&
  (error as { code?: unknown }).code === 'NO_SESSION';

/** What a flight needs from its gate. */
export interface FlightDeps {
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  readonly cache: TokenCache;
  readonly policy: RefreshPolicy;
  readonly delivered: WeakSet<object>;
  /** The number of waiters changed. */
  readonly changed: () => void;
  /** The gate's transition for this flight's end; called once, synchronously, by {@link Flight.end}. */
  ended(flight: Flight, outcome: Outcome): void;
  /** The tokens of a flight that failed (timed out) while its store write was under way. */
  storedLate(flight: Flight, tokens: Tokens): void;
  /** A transient failure, tried again after `delayMs`. */
  retrying(flight: Flight, retry: { attempt: number; delayMs: number; error: unknown }): void;
}

/**
 * One refresh: its abort controller and timeout, the double-check under the coordinator's lock,
 * the user's `refresh`, the store write, and the requests waiting for it (the gate adopts and
 * publishes what it ends with, in its `settled` transition). Whoever
 * ends it first wins (the refresh, its timeout, `setTokens()`, `clear()`, `destroy()`, a peer) and
 * every later end is a no-op. Before each side effect it checks that it was not ended meanwhile:
 * a superseded flight stores, publishes and adopts nothing.
 */
export class Flight {
  readonly reason: Reason;
  /**
   * The access token this flight replaces: the store holding another one means someone refreshed.
   * `undefined` (a manual refresh before an async store's first read): it always refreshes.
   */
  readonly staleToken: string | null | undefined;
  readonly waiters: WaiterQueue<Tokens>;
  /** Words (setTokens, clear, a peer's announcement) before it started: a later one wins over its late write. */
  readonly since: number;
  /** The refresh's last failure and whether it was terminal, as the retry loop judged it. */
  #judged: { readonly failure: unknown; readonly terminal: boolean } | undefined;
  readonly #deps: FlightDeps;
  readonly #controller = new AbortController();
  /**
   * Under a lock that can be lost: this attempt's signal, aborted by the flight's and by the
   * lock's loss. A lost lock ends the attempt, not the flight, which takes the lock again.
   */
  #attempt: AbortController | undefined;
  #attempts = 0;
  #timer: unknown;
  #running: Promise<void> | undefined;
  /** The store write of the result is under way: a timeout must not release the lock before it lands. */
  #storing = false;
  #abortWhenStored: { reason: unknown } | undefined;
  #outcome: Outcome | undefined;
  #settle!: (outcome: Outcome) => void;
  readonly #settled = new Promise<Outcome>((resolve) => {
    this.#settle = resolve;
  });

  constructor(
    deps: FlightDeps,
    reason: Reason,
    staleToken: string | null | undefined,
    since: number,
  ) {
    this.#deps = deps;
    this.since = since;
    this.reason = reason;
    this.staleToken = staleToken;
    const { queueTimeoutMs } = deps.options;
    this.waiters = new WaiterQueue(
      deps.clock,
      queueTimeoutMs,
      'a token refresh',
      deps.delivered,
      deps.changed,
    );
  }

  /** The signal given to `refresh` as `ctx.signal`; a request carrying it is the refresh call. */
  get signal(): AbortSignal {
    return (this.#attempt ?? this.#controller).signal;
  }

  get outcome(): Outcome | undefined {
    return this.#outcome;
  }

  /** Ended, and nothing of it can land any more (no write under way that would be taken late). */
  get done(): boolean {
    return this.#outcome !== undefined && !this.#storing && this.#abortWhenStored === undefined;
  }

  /** Arms the timeout and takes the lock. Never rejects: every end goes through {@link end}. */
  start(error: AxiosError | undefined): void {
    const { refreshTimeoutMs } = this.#deps.options;
    if (refreshTimeoutMs > 0) {
      this.#timer = this.#deps.clock.setTimeout(() => {
        this.end({
          kind: 'failed',
          error: new RefreshGateError(
            'REFRESH_TIMEOUT',
            `refresh did not settle within ${refreshTimeoutMs} ms (refreshTimeoutMs)`,
          ),
        });
      }, refreshTimeoutMs);
    }
    this.#take(error);
  }

  /** Takes the lock and runs the refresh under it (again, after a lost lock). */
  #take(error: AxiosError | undefined): void {
    const { coordinator, refreshTimeoutMs } = this.#deps.options;
    // Counted here, not when fn runs: a coordinator that rejects before running fn is bounded too.
    this.#attempts++;
    const fails = (failure: unknown) => {
      // Rule 1 across processes: another member holds the lock now and stores its tokens; wait
      // for the lock again and take them (a few times at most; the flight's timeout still runs).
      if (isLockLost(failure) && !this.#outcome && this.#attempts < MAX_ATTEMPTS) {
        this.#running = undefined;
        this.#take(error);
      } else {
        const judged = this.#judged;
        this.end({
          kind: 'failed',
          error: asError(failure),
          // Judged on what the refresh rejected with (a string, say), not on its wrapper.
          terminal:
            judged !== undefined && judged.failure === failure
              ? judged.terminal
              : terminal(this.#deps, failure),
        });
      }
    };
    // A coordinator whose runExclusive throws synchronously, answers no promise, or settles
    // without having run the refresh must not leave the gate locked.
    new Promise<unknown>((resolve) =>
      resolve(
        coordinator.runExclusive(
          // Run once, whatever the coordinator does: a second call gets the first one's promise
          // (rotating the refresh token twice would end the session), and a coordinator that
          // drops that promise does not make its rejection unhandled.
          (lock?: HeldLock) => {
            if (!this.#running) {
              this.#hold(lock);
              const running = this.#underLock(error, lock);
              this.#running = running;
              // The coordinator's answer decides a lost lock; any other failure ends it here.
              running.then(undefined, (failure: unknown) => {
                if (!isLockLost(failure) && !lostLock(lock)) fails(failure);
              });
            }
            return this.#running;
          },
          {
            signal: this.#controller.signal,
            timeoutMs: refreshTimeoutMs,
          },
        ),
      ),
    ).then(() => {
      // Once fn runs, it ends the flight itself (or the timeout does).
      if (!this.#running)
        this.end({
          kind: 'failed',
          error: new Error('the coordinator settled without running the refresh'),
        });
    }, fails);
  }

  /** Under a lock that can be lost: this attempt's signal also aborts when the lock is lost. */
  #hold(lock: HeldLock | undefined): void {
    this.#attempt = undefined;
    if (typeof lock?.signal?.addEventListener !== 'function') return;
    const attempt = new AbortController();
    this.#attempt = attempt;
    const flight = this.#controller.signal;
    const stop = (signal: AbortSignal) => () => attempt.abort(signal.reason);
    if (flight.aborted || lock.signal.aborted) {
      attempt.abort((flight.aborted ? flight : lock.signal).reason);
      return;
    }
    flight.addEventListener('abort', stop(flight), { once: true });
    lock.signal.addEventListener('abort', stop(lock.signal), { once: true });
  }

  /** Throws what lost `lock`, if it was lost. */
  #checkLock(lock: HeldLock | undefined): void {
    const signal = lock?.signal;
    if (signal?.aborted) throw signal.reason;
  }

  /** Ends the flight, if nobody did before; `false` when it had already ended. */
  end(outcome: Outcome): boolean {
    if (this.#outcome) return false;
    this.#outcome = outcome;
    this.#deps.clock.clearTimeout(this.#timer);
    this.#settle(outcome);
    this.#deps.ended(this, outcome);
    // Whatever still runs for a flight that did not store its own tokens is told to stop.
    if (outcome.kind !== 'refreshed') {
      const reason = 'error' in outcome ? outcome.error : undefined;
      // Timed out while storing: the server has rotated; keep the lock (the coordinator releases it
      // on this abort) until the write lands, so no peer double-checks a store that lags.
      // A write that never lands holds it for one more refreshTimeoutMs at most.
      if (this.#storing && outcome.kind === 'failed') {
        this.#abortWhenStored = { reason };
        const { refreshTimeoutMs } = this.#deps.options;
        if (refreshTimeoutMs > 0)
          this.#timer = this.#deps.clock.setTimeout(() => this.release(), refreshTimeoutMs);
      } else this.#controller.abort(reason);
    }
    return true;
  }

  /** Lets go of the lock a timed-out flight kept while its write was under way (or on destroy()). */
  release(): void {
    this.#deps.clock.clearTimeout(this.#timer);
    const deferred = this.#abortWhenStored;
    this.#abortWhenStored = undefined;
    if (deferred) this.#controller.abort(deferred.reason);
  }

  /** The tokens this flight ends with, for `gate.refresh()`: bounded by refreshTimeoutMs only. */
  result(): Promise<Tokens> {
    return this.#settled.then((outcome) => {
      if (ended(outcome)) return outcome.tokens;
      throw outcome.error;
    });
  }

  async #underLock(error: AxiosError | undefined, lock: HeldLock | undefined): Promise<void> {
    const { cache, policy, options } = this.#deps;
    this.#check();
    // Double-check: another tab or process may have refreshed while this one waited for the lock.
    const latest = await cache.readFresh();
    this.#check();
    const freshness = latest && policy.freshness(latest);
    if (
      latest &&
      this.staleToken !== undefined &&
      freshness !== 'expired' &&
      // Newer tokens; or, for a token about to expire, the same one judged fresh again (this
      // device's clock was set back meanwhile): nothing to refresh.
      (latest.accessToken !== this.staleToken ||
        (this.reason === 'expiring' && freshness === 'fresh'))
    ) {
      options.logger.debug('adopted: the store holds newer tokens');
      this.end({ kind: 'adopted', tokens: latest });
      return;
    }
    // Rule 1 across processes: a member paused past its lock's life must not rotate the token
    // its successor is rotating; the lock is confirmed right before the call.
    let current = latest;
    if (typeof lock?.confirm === 'function') {
      // A coordinator that knows the scope moved on since the double-check (another tab rotated
      // the tokens, its word still on its way here) waits for that word: the gate has adopted it
      // by then, or presents it.
      const newer = await lock.confirm(latest);
      // Only tokens are taken: a confirm written for the old `Promise<void>` may resolve with
      // anything (a PONG, a count), which must not make the refresh present no tokens.
      const tokens = newer === undefined || newer === null ? undefined : readTokens(newer);
      if (tokens) current = tokens;
    }
    this.#check();
    this.#checkLock(lock);
    const { signal, reason } = this;
    const context: RefreshContext = error
      ? { tokens: current, signal, reason, error }
      : { tokens: current, signal, reason };
    let result: Tokens | string | null;
    for (let attempt = 0; ; attempt++) {
      try {
        result = await options.refresh(context);
        break;
      } catch (failure) {
        // A refresh that honours ctx.signal rejects with its abort when the lock is lost: that is
        // the lost lock, for the flight to take the lock again, not a failure of the refresh.
        this.#checkLock(lock);
        this.#check();
        if (isNoSession(failure)) {
          this.end({ kind: 'nosession', error: failure });
          return;
        }
        // Judged once: a stateful isTerminal answers for the retry and the report alike.
        const ends = terminal(this.#deps, failure);
        if (attempt >= options.retry.retries || ends) {
          this.#judged = { failure, terminal: ends };
          throw failure;
        }
        // Transient (no answer, 5xx): tried again in this flight, its waiters still waiting.
        const delayMs = retryDelay(options.retry, attempt, failure, this.#deps.clock.now());
        this.#deps.retrying(this, { attempt: attempt + 1, delayMs, error: failure });
        await this.#pause(delayMs);
        this.#check();
        if (typeof lock?.confirm === 'function') await lock.confirm(current);
        // A destroy(), clear() or setTokens() while the lock confirmed: no call after it.
        this.#check();
        this.#checkLock(lock);
      }
    }
    // Timed out, superseded, destroyed, or the lock lost meanwhile: a late result is not stored.
    this.#check();
    this.#checkLock(lock);
    // Nothing to refresh with (no refresh token): not a failure of the refresh.
    if (result === null) {
      this.end({
        kind: 'nosession',
        error: new RefreshGateError(
          'NO_SESSION',
          'there is no session to refresh: the refresh resolved null',
        ),
      });
      return;
    }
    const tokens = toTokens(result, current, 'refresh');
    // A token issued just now has not expired: this device's clock is off, and the JWT's `iat` is
    // a reading of the server's (one sample: the `Date` headers that follow outvote it).
    const iat = jwtTime(tokens.accessToken, 'iat');
    if (iat !== undefined && policy.freshness(tokens) === 'expired')
      options.clockSkew?.sample(iat, this.#deps.clock.now());
    // No `iat`, and no response has told the server's time yet: the server's word is trusted
    // until one does.
    if (options.clockSkew?.sampled === false && policy.freshness(tokens) === 'expired')
      policy.unjudged(tokens.accessToken);
    // Still expired on arrival: never sent, and refreshing again would loop (rule 6). It is stored
    // all the same, since its refresh token is the one the server now holds.
    const expired = policy.freshness(tokens) === 'expired';
    this.#checkLock(lock);
    this.#storing = true;
    try {
      await cache.persist(tokens);
      // Timed out while storing: the store holds the new tokens now, and the gate follows it.
      if (this.#outcome?.kind === 'failed') this.#deps.storedLate(this, tokens);
    } finally {
      this.#storing = false;
      if (this.#abortWhenStored) this.release();
    }
    // Superseded while storing: the user's own write is queued behind this one and lands last.
    this.#check();
    if (!expired) {
      this.end({ kind: 'refreshed', tokens });
      return;
    }
    this.end({
      kind: 'failed',
      error: new RefreshGateError(
        'INVALID_TOKENS',
        'the refresh gave a token already past its expiry by this clock: check the clock, or getExpiry',
      ),
      tokens,
    });
  }

  /**
   * Waits `ms` before the next try, and, in a browser that says it is offline, until it is back
   * online; either way no longer than the flight lives (its timeout, clear(), destroy()).
   */
  #pause(ms: number): Promise<void> {
    const { clock } = this.#deps;
    const signal = this.#controller.signal;
    const scope = globalThis as {
      navigator?: { onLine?: boolean };
      addEventListener?: (type: string, listener: () => void) => void;
      removeEventListener?: (type: string, listener: () => void) => void;
    };
    return new Promise<void>((resolve) => {
      // Ended already (a refresh:retry listener's destroy(), say): no timer, no listener.
      if (signal.aborted) return resolve();
      let timer: unknown;
      const done = () => {
        clock.clearTimeout(timer);
        signal.removeEventListener('abort', done);
        scope.removeEventListener?.('online', online);
        resolve();
      };
      const online = () => {
        if (scope.navigator?.onLine !== false) done();
      };
      signal.addEventListener('abort', done, { once: true });
      timer = clock.setTimeout(() => {
        if (scope.navigator?.onLine === false && typeof scope.addEventListener === 'function') {
          scope.addEventListener('online', online);
        } else done();
      }, ms);
    });
  }

  #check(): void {
    const outcome = this.#outcome;
    if (outcome) throw 'error' in outcome ? outcome.error : new Error('superseded');
  }
}

const MAX_ATTEMPTS = 3;

/** The app's `isTerminal`, which may throw: a failure it cannot judge is terminal. */
/** Whether a failure ends the session, by the app's `isTerminal` (one that throws: it does). */
const terminal = (deps: FlightDeps, error: unknown): boolean => {
  try {
    return deps.options.isTerminal(error) !== false;
  } catch (thrown) {
    const tokens = deps.cache.peek();
    deps.options.logger.warn(
      'isTerminal threw; the failure counts as terminal',
      forLog(thrown, [tokens?.accessToken, tokens?.refreshToken]),
    );
    return true;
  }
};
const lostLock = (lock: HeldLock | undefined) => lock?.signal?.aborted === true;
const isLockLost = (error: unknown) => (error as { code?: unknown } | null)?.code === 'LOCK_LOST';

/** Rule 11: a refresh that rejects with a non-Error still rejects its waiters with an Error. */
function asError(value: unknown): unknown {
  if (value instanceof Error || (typeof value === 'object' && value !== null && 'message' in value))
    return value;
  return new Error(`the refresh failed with a non-Error value: ${String(value)}`, { cause: value });
}
