import { systemClock } from './clock.js';
import { RefreshGateError } from './errors.js';
import type { Coordinator, Tokens } from './types.js';

/**
 * A coordinator for one JavaScript realm: a FIFO mutex plus a publish/subscribe channel. Every gate
 * gets its own by default; gates that share one (several gates for the same account in a process)
 * refresh one at a time and hear each other's tokens. It is also the fallback of the browser
 * coordinator where Web Locks are missing.
 *
 * @example
 * ```ts
 * const scope = inProcessCoordinator();
 * const a = createRefreshGate({ refresh, store, coordinator: scope });
 * const b = createRefreshGate({ refresh, store, coordinator: scope });
 * ```
 */
export function inProcessCoordinator(): Coordinator {
  let locked = false;
  const queue: Array<() => void> = [];
  const listeners = new Set<(tokens: Tokens | null) => void>();

  const release = () => {
    const next = queue.shift();
    if (next) next();
    else locked = false;
  };

  const acquire = (signal: AbortSignal, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      if (!locked) {
        locked = true;
        return resolve();
      }
      let timer: unknown;
      const onAbort = () => {
        drop();
        reject(signal.reason);
      };
      const grant = () => {
        systemClock.clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const drop = () => {
        systemClock.clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const at = queue.indexOf(grant);
        if (at >= 0) queue.splice(at, 1);
      };
      queue.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs > 0) {
        timer = systemClock.setTimeout(() => {
          drop();
          reject(
            new RefreshGateError(
              'REFRESH_TIMEOUT',
              `the refresh lock was not acquired within ${timeoutMs} ms (refreshTimeoutMs)`,
            ),
          );
        }, timeoutMs);
      }
    });

  return {
    async runExclusive(fn, { signal, timeoutMs }) {
      await acquire(signal, timeoutMs);
      // Release when fn settles or the caller gives up (timeout, destroy), whichever is first: a
      // refresh that ignores its signal must not keep the next one waiting forever.
      let released = false;
      const releaseOnce = () => {
        if (released) return;
        released = true;
        signal.removeEventListener('abort', releaseOnce);
        release();
      };
      signal.addEventListener('abort', releaseOnce, { once: true });
      try {
        return await fn();
      } finally {
        releaseOnce();
      }
    },
    publish(tokens) {
      for (const listener of [...listeners]) listener(tokens);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    dispose() {
      listeners.clear();
    },
  };
}
