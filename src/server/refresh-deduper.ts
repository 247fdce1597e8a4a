import { createHash } from 'node:crypto';
import { expected } from '../format.js';
import { RefreshGateError } from '../index.js';
import type { DedupeStore } from './dedupe-store.js';
import { memoryDedupeStore } from './memory-dedupe-store.js';

/**
 * Options of {@link createRefreshDeduper}.
 *
 * @example
 * ```ts
 * createRefreshDeduper({ graceMs: 30_000, waitTimeoutMs: 10_000, maxRotationMs: 30_000 });
 * ```
 */
export interface RefreshDeduperOptions {
  /**
   * How long after a rotation settled a call with the same key still gets its result: a client
   * whose refresh raced another one (two tabs, a retry after a lost response) gets the same pair
   * instead of tripping reuse detection. Past it, reuse is reuse. @default 30_000
   */
  readonly graceMs?: number | undefined;
  /**
   * How long a call waits for a rotation that another call is running before it rejects with a
   * {@link RefreshDedupeError} (HTTP 429). The rotation goes on for the others. @default 10_000
   */
  readonly waitTimeoutMs?: number | undefined;
  /**
   * The lease of a claim in the store. While `rotate` runs, its claim is renewed every
   * `leaseMs / 3` (fenced by the claim's token), so a rotation slower than `waitTimeoutMs` is
   * waited for, never run again; an instance that died mid-rotation blocks the key for at most
   * `leaseMs`. A rotation whose claim is lost all the same (not renewed in time, key deleted) is
   * given up as at `maxRotationMs`. At least 1, whole milliseconds.
   * @default Math.max(waitTimeoutMs, 1_000)
   */
  readonly leaseMs?: number | undefined;
  /**
   * The bound of every lease: a rotation still running this long after it claimed the key is
   * given up. Its callers reject with a {@link RefreshDedupeError} (HTTP 429), its claim is dropped
   * (the next call claims and rotates), `rotate`'s signal aborts, and its late result is never
   * served or kept. At least 1. @default 3 * leaseMs
   */
  readonly maxRotationMs?: number | undefined;
  /** Where rotations in flight and their results live. @default memoryDedupeStore() */
  readonly store?: DedupeStore | undefined;
}

/** What {@link createRefreshDeduper} returns. */
export interface RefreshDeduper {
  /**
   * Runs `rotate` once for concurrent calls with the same `key` (the presented refresh token) and
   * gives every one of them its result; calls within `graceMs` after it succeeded get the same
   * result without running it. A failure is shared by the calls waiting on it, never kept.
   * `signal` aborts when the rotation is given up (`maxRotationMs`, a lost claim, `dispose()`).
   */
  dedupe<T>(key: string, rotate: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /**
   * Rejects the calls in flight with `DESTROYED` (their claims dropped), forgets every result and
   * stops its own and the store's timers and connections.
   */
  dispose(): void;
}

const BRAND = Symbol.for('axios-refresh-gate.dedupe-error');

/**
 * Rejects a call that waited more than `waitTimeoutMs` for a rotation another call is running.
 * `status` (and `statusCode`) is 429, so that Express, Fastify, Koa and h3 error handlers answer
 * "429 Too Many Requests"; the client should retry shortly.
 *
 * @example
 * ```ts
 * catch (error) {
 *   if (isRefreshDedupeError(error)) return res.status(error.status).set('Retry-After', '1').json({ error: 'slow_down' });
 * }
 * ```
 */
export class RefreshDedupeError extends Error {
  override readonly name = 'RefreshDedupeError';
  readonly code = 'DEDUPE_TIMEOUT';
  readonly status = 429;
  readonly statusCode = 429;
  /** Safe to show to the client (Koa, http-errors). */
  readonly expose = true;
  readonly [BRAND] = true;
}

/**
 * Tells whether `value` is a {@link RefreshDedupeError}, also across copies of the package.
 *
 * @example
 * ```ts
 * if (isRefreshDedupeError(error)) res.statusCode = error.status;
 * ```
 */
export function isRefreshDedupeError(value: unknown): value is RefreshDedupeError {
  return (
    value instanceof RefreshDedupeError ||
    (typeof value === 'object' &&
      value !== null &&
      (value as { [BRAND]?: unknown })[BRAND] === true &&
      (value as { name?: unknown }).name === 'RefreshDedupeError')
  );
}

const MIN_POLL_MS = 10;
const MAX_POLL_MS = 250;

const ignore = () => {};

/** An `INVALID_OPTIONS` error naming the option (every option error of the server entry). */
export const invalid = (name: string, what: string, value: unknown) =>
  new RefreshGateError('INVALID_OPTIONS', expected(name, what, value));

function checkDuration(name: string, value: unknown, least = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < least) {
    throw invalid(name, `a finite number >= ${least}`, value);
  }
  return value;
}

const STORE_METHODS = ['claim', 'renew', 'fulfil', 'abandon', 'watch'] as const;

/** The calls with one key in this process share one flight; `end` is the only way out of it. */
interface Flight {
  readonly promise: Promise<unknown>;
  /** Settles every call of the flight; only the first end counts. */
  end(ok: boolean, result: unknown): void;
}

/**
 * Server-side refresh de-duplication for a refresh endpoint with rotating refresh tokens: racing
 * refreshes that present the same refresh token (clients without a gate, two tabs, a retry after
 * a response was lost) get the same new pair instead of tripping reuse detection. Keyed by the
 * SHA-256 of the key: the refresh token itself is never kept. Works in one process by default;
 * give it a {@link redisDedupeStore} to make several server instances behave as one.
 *
 * One flight per key and process, every lease bounded:
 * `claiming -done-> served; -busy-> waiting -changed|poll-> claiming; -waitTimeoutMs-> 429;
 * -claimed-> rotating (claim renewed every leaseMs/3) -resolved-> served (fulfil) | -rejected->
 * failed (abandon) | -maxRotationMs|claim lost-> given up (429, abandon, signal aborted);
 * any -dispose-> DESTROYED`.
 *
 * @example
 * ```ts
 * const deduper = createRefreshDeduper();
 * app.post('/auth/refresh', async (req, res, next) => {
 *   try {
 *     res.json(await deduper.dedupe(req.body.refreshToken, () => rotate(req.body.refreshToken)));
 *   } catch (error) {
 *     next(error); // a RefreshDedupeError carries status 429
 *   }
 * });
 * ```
 */
export function createRefreshDeduper(options: RefreshDeduperOptions = {}): RefreshDeduper {
  if (typeof options !== 'object' || options === null) {
    throw invalid(
      'options',
      'an object { graceMs?, waitTimeoutMs?, leaseMs?, maxRotationMs?, store? }',
      options,
    );
  }
  const graceMs = checkDuration('graceMs', options.graceMs ?? 30_000);
  const waitTimeoutMs = checkDuration('waitTimeoutMs', options.waitTimeoutMs ?? 10_000);
  const leaseMs = Math.ceil(
    checkDuration('leaseMs', options.leaseMs ?? Math.max(waitTimeoutMs, 1_000), 1),
  );
  const maxRotationMs = checkDuration('maxRotationMs', options.maxRotationMs ?? 3 * leaseMs, 1);
  const store = options.store ?? memoryDedupeStore();
  if (
    typeof store !== 'object' ||
    store === null ||
    STORE_METHODS.some((name) => typeof store[name] !== 'function') ||
    (store.dispose !== undefined && typeof store.dispose !== 'function')
  ) {
    throw invalid(
      'store',
      'a DedupeStore with claim, renew, fulfil, abandon and watch functions',
      store,
    );
  }
  const flights = new Map<string, Flight>();
  /** Set by dispose(): every call from then on rejects with it. */
  let destroyed: RefreshGateError | undefined;

  const timeout = (what: string, ms: number, name: string) =>
    new RefreshDedupeError(
      `a refresh with this refresh token ${what} ${ms} ms (${name}); retry shortly`,
    );
  const tooLong = () => timeout('is still running after', waitTimeoutMs, 'waitTimeoutMs');
  function fly(hash: string, rotate: (signal: AbortSignal) => Promise<unknown>): Flight {
    const controller = new AbortController();
    let ended = false;
    let token = ''; // the claim's, once it is ours
    let timer: ReturnType<typeof setTimeout> | undefined;
    let renewer: ReturnType<typeof setInterval> | undefined;
    let stopWaiting = ignore;
    let settle!: (ok: boolean, result: unknown) => void;
    const promise = new Promise((resolve, reject) => {
      settle = (ok, result) => (ok ? resolve : reject)(result);
    });
    const flight: Flight = {
      promise,
      end(ok, result) {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        clearInterval(renewer);
        stopWaiting();
        // Only this flight is under `hash` while it is up: a new one starts after it ended.
        flights.delete(hash);
        if (token) {
          if (!ok) controller.abort(result);
          // Sent before the callers hear, so a call after them on the same connection sees it;
          // its failure changes nothing for them (and a store that throws at once is caught too).
          const write = async () =>
            ok ? store.fulfil(hash, token, result, graceMs) : store.abandon(hash, token);
          write().catch(ignore);
        }
        settle(ok, result);
      },
    };
    const limit = (ms: number, error: () => Error) => {
      clearTimeout(timer);
      timer = setTimeout(() => flight.end(false, error()), ms);
    };

    const run = async () => {
      limit(waitTimeoutMs, tooLong);
      for (let pollMs = MIN_POLL_MS; ; pollMs = Math.min(pollMs * 2, MAX_POLL_MS)) {
        const claim = await store.claim(hash, leaseMs);
        if (claim.state === 'claimed') {
          // A claim that comes back after the flight ended (its deadline, dispose) is let go.
          if (ended) return store.abandon(hash, claim.token);
          token = claim.token;
          break;
        }
        if (ended) return;
        if (claim.state === 'done') return flight.end(true, claim.value);
        // Another instance is rotating: wait for its result (or for its claim to go away).
        await new Promise<void>((wake) => {
          const poll = setTimeout(() => stopWaiting(), pollMs);
          const unwatch = store.watch(hash, () => stopWaiting());
          // Idempotent, so a stale one called again from end() does no harm.
          stopWaiting = () => {
            clearTimeout(poll);
            unwatch();
            wake();
          };
        });
        if (ended) return;
      }
      limit(maxRotationMs, () => timeout('did not settle within', maxRotationMs, 'maxRotationMs'));
      // Keeps the claim while rotate runs. A claim lost all the same (its lease ran out between two
      // renewals, its key was deleted) may be taken by another caller: this rotation is given up.
      renewer = setInterval(() => {
        store.renew(hash, token, leaseMs).then((held) => {
          if (!held) flight.end(false, timeout('did not keep its lease of', leaseMs, 'leaseMs'));
        }, ignore);
      }, leaseMs / 3);
      flight.end(true, await rotate(controller.signal));
    };
    flights.set(hash, flight);
    run().catch((error: unknown) => flight.end(false, error));
    return flight;
  }

  return {
    dedupe<T>(key: string, rotate: (signal: AbortSignal) => Promise<T>): Promise<T> {
      if (destroyed) return Promise.reject(destroyed);
      // Shown only when it is not a usable key: a refresh token itself never reaches a message.
      if (typeof key !== 'string' || key === '') {
        return Promise.reject(invalid('key', 'a non-empty string', key));
      }
      if (typeof rotate !== 'function') {
        return Promise.reject(invalid('rotate', 'a function () => Promise<T>', rotate));
      }
      const hash = createHash('sha256').update(key).digest('hex');
      const running = flights.get(hash)?.promise as Promise<T> | undefined;
      if (!running) return fly(hash, rotate).promise as Promise<T>;
      // Joins the flight in this process; waits at most waitTimeoutMs.
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(tooLong()), waitTimeoutMs);
        running.then(resolve, reject).then(() => clearTimeout(timer));
      });
    },
    dispose() {
      destroyed ??= new RefreshGateError(
        'DESTROYED',
        'this refresh deduper was disposed of; make a new one with createRefreshDeduper()',
      );
      // Each flight deletes itself from `flights` as it ends (allowed while iterating a Map).
      for (const flight of flights.values()) flight.end(false, destroyed);
      store.dispose?.();
    },
  };
}
