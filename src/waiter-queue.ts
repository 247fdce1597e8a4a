import { CanceledError, type InternalAxiosRequestConfig } from 'axios';
import type { Clock } from './clock.js';
import { RefreshGateError } from './errors.js';

/** One request or call waiting; it settles once, by whichever comes first. */
interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
  /** When it gives up (monotonic ms); waiters join in time order, so the first is the next due. */
  readonly deadline: number;
  /** Removes the abort and cancel-token listeners. */
  cleanup: (() => void) | undefined;
}

/** axios' CanceledError; its declared constructor is narrower than the one it has at run time. */
export const canceled = (config: InternalAxiosRequestConfig | undefined, message?: string): Error =>
  new (
    CanceledError as unknown as new (
      message?: string,
      config?: InternalAxiosRequestConfig,
    ) => Error
  )(message, config);

/**
 * The requests and calls waiting for one thing (a refresh, an async store's first read). Each is
 * settled exactly once: by {@link resolveAll}/{@link rejectAll}, by its own `AbortSignal` or
 * `CancelToken` (axios checks those only after the interceptors, so a waiter listens itself), or
 * by its deadline. One timer serves the whole queue: 100k waiters cost one timer, not 100k.
 */
export class WaiterQueue<T> {
  readonly #waiters = new Set<Waiter<T>>();
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  /** What the queue waits for, for the QUEUE_TIMEOUT message. */
  readonly #what: string;
  /** Errors waiters were rejected with, shared by the gate's queues (see the response side). */
  readonly #delivered: WeakSet<object>;
  /** Told when the number of waiters changed (once per bulk settle), for `gate.subscribe`. */
  readonly #changed: () => void;
  #timer: unknown;
  #armed = false;
  #bulk = false;

  constructor(
    clock: Clock,
    timeoutMs: number,
    what: string,
    delivered: WeakSet<object>,
    changed: () => void,
  ) {
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#what = what;
    this.#delivered = delivered;
    this.#changed = changed;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /** Waits until the queue settles; `config`'s signal and cancel token end the wait early. */
  wait(config?: InternalAxiosRequestConfig): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timeoutMs = this.#timeoutMs;
      const waiter: Waiter<T> = {
        resolve,
        reject,
        deadline: timeoutMs > 0 ? this.#clock.elapsed() + timeoutMs : Number.POSITIVE_INFINITY,
        cleanup: undefined,
      };
      if (config && !this.#watch(waiter, config)) return;
      this.#waiters.add(waiter);
      this.#arm();
      this.#changed();
    });
  }

  resolveAll(value: T): void {
    this.#all(() => {
      for (const waiter of this.#waiters) this.#settle(waiter, true, value);
    });
    this.#disarm();
  }

  rejectAll(error: unknown): void {
    this.#all(() => {
      for (const waiter of this.#waiters) this.#settle(waiter, false, error);
    });
    this.#disarm();
  }

  /** Settles many at once, telling of the change once. */
  #all(settle: () => void): void {
    const size = this.#waiters.size;
    this.#bulk = true;
    try {
      settle();
    } finally {
      this.#bulk = false;
    }
    if (this.#waiters.size !== size) this.#changed();
  }

  /** Rule 9: a canceled waiter rejects at once and leaves the queue. */
  #watch(waiter: Waiter<T>, config: InternalAxiosRequestConfig): boolean {
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
    const onAbort = () => this.#settle(waiter, false, canceled(config));
    const onCancel = (reason: unknown) => this.#settle(waiter, false, reason);
    signal?.addEventListener?.('abort', onAbort);
    cancelToken?.subscribe(onCancel);
    waiter.cleanup = () => {
      signal?.removeEventListener?.('abort', onAbort);
      cancelToken?.unsubscribe(onCancel);
    };
    return true;
  }

  #settle(waiter: Waiter<T>, ok: boolean, value: unknown): void {
    if (!this.#waiters.delete(waiter)) return;
    waiter.cleanup?.();
    if (!this.#bulk) this.#changed();
    if (ok) {
      waiter.resolve(value as T);
      return;
    }
    if (typeof value === 'object' && value !== null) this.#delivered.add(value);
    waiter.reject(value);
    if (this.#waiters.size === 0) this.#disarm();
  }

  #arm(): void {
    if (this.#armed) return;
    const head = this.#waiters.values().next();
    if (head.done || head.value.deadline === Number.POSITIVE_INFINITY) return;
    this.#armed = true;
    this.#timer = this.#clock.setTimeout(
      () => this.#expire(),
      Math.max(0, head.value.deadline - this.#clock.elapsed()),
    );
  }

  #disarm(): void {
    if (!this.#armed) return;
    this.#armed = false;
    this.#clock.clearTimeout(this.#timer);
  }

  #expire(): void {
    this.#armed = false;
    const now = this.#clock.elapsed();
    this.#all(() => {
      for (const waiter of this.#waiters) {
        if (waiter.deadline > now) break;
        this.#settle(
          waiter,
          false,
          new RefreshGateError(
            'QUEUE_TIMEOUT',
            `request waited more than ${this.#timeoutMs} ms for ${this.#what} (queueTimeoutMs)`,
          ),
        );
      }
    });
    this.#arm();
  }
}
