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
 * createRefreshDeduper({ graceMs: 30_000, waitTimeoutMs: 10_000 });
 * ```
 */
export interface RefreshDeduperOptions {
  /**
   * How long after a rotation settled a call with the same key still gets its result: a client
   * whose refresh raced another one (two tabs, a retry after a lost response) gets the same pair
   * instead of tripping reuse detection. Past it, reuse is reuse. @default 30_000
   */
  readonly graceMs?: number;
  /**
   * How long a call waits for a rotation that another call is running before it rejects with a
   * {@link RefreshDedupeError} (HTTP 429); also the lease of a claim in a shared store, after
   * which an instance that died mid-rotation no longer blocks the key. @default 10_000
   */
  readonly waitTimeoutMs?: number;
  /** Where rotations in flight and their results live. @default memoryDedupeStore() */
  readonly store?: DedupeStore;
}

/** What {@link createRefreshDeduper} returns. */
export interface RefreshDeduper {
  /**
   * Runs `rotate` once for concurrent calls with the same `key` (the presented refresh token) and
   * gives every one of them its result; calls within `graceMs` after it succeeded get the same
   * result without running it. A failure is shared by the calls waiting on it, never kept.
   */
  dedupe<T>(key: string, rotate: () => Promise<T>): Promise<T>;
  /** Forgets every result and stops the store's timers and connections. */
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

const invalid = (name: string, what: string, value: unknown) =>
  new RefreshGateError('INVALID_OPTIONS', expected(name, what, value));

function checkDuration(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(name, 'a finite number >= 0', value);
  }
  return value;
}

const STORE_METHODS = ['claim', 'fulfil', 'abandon', 'watch'] as const;

/**
 * Server-side refresh de-duplication for a refresh endpoint with rotating refresh tokens: racing
 * refreshes that present the same refresh token (clients without a gate, two tabs, a retry after
 * a response was lost) get the same new pair instead of tripping reuse detection. Keyed by the
 * SHA-256 of the key: the refresh token itself is never kept. Works in one process by default;
 * give it a {@link redisDedupeStore} to make several server instances behave as one.
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
    throw invalid('options', 'an object { graceMs?, waitTimeoutMs?, store? }', options);
  }
  const graceMs = checkDuration('graceMs', options.graceMs ?? 30_000);
  const waitTimeoutMs = checkDuration('waitTimeoutMs', options.waitTimeoutMs ?? 10_000);
  const store = options.store ?? memoryDedupeStore();
  if (
    typeof store !== 'object' ||
    store === null ||
    STORE_METHODS.some((name) => typeof store[name] !== 'function') ||
    (store.dispose !== undefined && typeof store.dispose !== 'function')
  ) {
    throw invalid('store', 'a DedupeStore with claim, fulfil, abandon and watch functions', store);
  }
  const inFlight = new Map<string, Promise<unknown>>();
  let disposed = false;

  const tooLong = () =>
    new RefreshDedupeError(
      `a refresh with this refresh token is still running after ${waitTimeoutMs} ms (waitTimeoutMs); retry shortly`,
    );

  /** Waits until the store says the entry changed, or a poll is due; rejects at the deadline. */
  const changed = (hash: string, deadline: number, pollMs: number) =>
    new Promise<void>((resolve, reject) => {
      const left = deadline - Date.now();
      if (left <= 0) return reject(tooLong());
      const timer = setTimeout(done, Math.min(pollMs, left));
      const stop = store.watch(hash, done);
      function done() {
        clearTimeout(timer);
        stop();
        resolve();
      }
    });

  async function settle<T>(hash: string, rotate: () => Promise<T>, deadline: number): Promise<T> {
    let pollMs = MIN_POLL_MS;
    for (;;) {
      const claim = await store.claim(hash, Math.max(waitTimeoutMs, 1));
      if (claim.state === 'done') return claim.value as T;
      if (claim.state === 'claimed') {
        let value: T;
        try {
          value = await rotate();
        } catch (error) {
          // Failures are never kept: the next call rotates again.
          await store.abandon(hash, claim.token).catch(() => {});
          throw error;
        }
        if (!disposed) {
          // The caller gets its pair even if it cannot be kept for the others.
          await store.fulfil(hash, claim.token, value, graceMs).catch(() => {});
        }
        return value;
      }
      // Another instance is rotating: wait for its result (or for its claim to go away).
      if (Date.now() >= deadline) throw tooLong();
      await changed(hash, deadline, pollMs);
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
  }

  return {
    dedupe<T>(key: string, rotate: () => Promise<T>): Promise<T> {
      if (disposed) {
        return Promise.reject(
          new RefreshGateError(
            'DESTROYED',
            'this refresh deduper was disposed of; make a new one with createRefreshDeduper()',
          ),
        );
      }
      // Shown only when it is not a usable key: a refresh token itself never reaches a message.
      if (typeof key !== 'string' || key === '') {
        return Promise.reject(invalid('key', 'a non-empty string', key));
      }
      if (typeof rotate !== 'function') {
        return Promise.reject(invalid('rotate', 'a function () => Promise<T>', rotate));
      }
      const hash = createHash('sha256').update(key).digest('hex');
      const running = inFlight.get(hash) as Promise<T> | undefined;
      if (running) {
        // Joins the call in flight in this process; waits at most waitTimeoutMs.
        return new Promise<T>((resolve, reject) => {
          const timer = setTimeout(() => reject(tooLong()), waitTimeoutMs);
          running.then(
            (value) => {
              clearTimeout(timer);
              resolve(value);
            },
            (error: unknown) => {
              clearTimeout(timer);
              reject(error);
            },
          );
        });
      }
      const started = (async () => settle(hash, rotate, Date.now() + waitTimeoutMs))();
      inFlight.set(hash, started);
      const forget = () => {
        if (inFlight.get(hash) === started) inFlight.delete(hash);
      };
      started.then(forget, forget);
      return started;
    },
    dispose() {
      disposed = true;
      inFlight.clear();
      store.dispose?.();
    },
  };
}
