import { CanceledError, type InternalAxiosRequestConfig } from 'axios';
import type { Clock } from './clock.js';
import { RefreshGateError } from './errors.js';
import { HOME, originFor } from './origins.js';

/**
 * What a held request does once its queue settles, for all of them: a request's own continuation
 * would cost it a second promise and two closures while it waits (see {@link WaiterQueue.hold}).
 */
export interface Resumer<T> {
  /** The value the queue settled with: the config to send, or a promise of it. */
  resumed(config: InternalAxiosRequestConfig, value: T): unknown;
  /** The error the queue settled with: what the request rejects with, or a config to send after all. */
  failed(config: InternalAxiosRequestConfig, error: unknown): unknown;
}

/** One request or call waiting; it settles once, by whichever comes first. */
interface Waiter<T> {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** When it gives up (monotonic ms, whole); waiters join in time order, so the first is the next due. */
  readonly deadline: number;
  /** Removes the abort and cancel-token listeners. */
  cleanup: (() => void) | undefined;
  /** A held request: its config, and what it does once the queue settled (see {@link hold}). */
  readonly config: InternalAxiosRequestConfig | undefined;
  readonly resumer: Resumer<T> | undefined;
}

/**
 * A held request as axios' chain takes it: a thenable, which the chain's promise adopts by calling
 * `then` with its own resolving functions. Holding a request then costs this object alone, not
 * also a promise of its own, its two resolving functions and a reaction (about 250 bytes of each of
 * 100,000 held requests, and a job each on release). Only a promise adopting it (axios' chain, an
 * `await`) calls `then`, which returns nothing; its callbacks are called once, never in the call.
 */
export class Held<T> implements Waiter<T> {
  readonly deadline: number;
  cleanup: (() => void) | undefined = undefined;
  readonly config: InternalAxiosRequestConfig;
  readonly resumer: Resumer<T>;
  #onValue: ((value: unknown) => void) | undefined;
  #onError: ((error: unknown) => void) | undefined;
  /** 1 resolved, 2 rejected, with `#value`; a `then` after it is answered in a job. */
  #settled: 0 | 1 | 2 = 0;
  #value: unknown;

  constructor(deadline: number, config: InternalAxiosRequestConfig, resumer: Resumer<T>) {
    this.deadline = deadline;
    this.config = config;
    this.resumer = resumer;
  }

  // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose, for the promise adopting it.
  then(onValue?: (value: unknown) => void, onError?: (error: unknown) => void): void {
    const settled = this.#settled;
    if (settled !== 0) {
      const value = this.#value;
      queueMicrotask(() => (settled === 1 ? onValue : onError)?.(value));
      return;
    }
    this.#onValue = both(this.#onValue, onValue);
    this.#onError = both(this.#onError, onError);
  }

  resolve(value: unknown): void {
    this.#settle(1, value);
  }

  reject(error: unknown): void {
    this.#settle(2, error);
  }

  #settle(how: 1 | 2, value: unknown): void {
    if (this.#settled !== 0) return;
    this.#settled = how;
    this.#value = value;
    const callback = how === 1 ? this.#onValue : this.#onError;
    this.#onValue = undefined;
    this.#onError = undefined;
    callback?.(value);
  }
}

/** A second `then` on a held request (no adopting promise makes one) is called after the first. */
const both = (
  first: ((value: unknown) => void) | undefined,
  second: ((value: unknown) => void) | undefined,
): ((value: unknown) => void) | undefined =>
  first && second
    ? (value) => {
        first(value);
        second(value);
      }
    : (first ?? second);

/** Held requests the queue settled in one go, and how: resumed in one job after the settling. */
interface Resumption<T> {
  readonly waiters: Waiter<T>[];
  readonly ok: boolean;
  readonly value: unknown;
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
  /**
   * Held requests the queue resolved that wait for their agent's pool (see {@link #pace}): still
   * waiters until released (their cancel and deadline hold, rejectAll ends them), in order.
   */
  #pacing: Array<Paced<T>> | undefined;
  /** How many pools (agent and host) the paced requests are bound for. */
  #pools = 0;
  #pacedWith: unknown;
  #paceTimer: unknown;

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
      const waiter: Waiter<T> = {
        resolve: resolve as (value: unknown) => void,
        reject,
        deadline: this.#deadline(),
        cleanup: undefined,
        config: undefined,
        resumer: undefined,
      };
      this.#add(waiter, config);
    });
  }

  /**
   * A request held until the queue settles, then `resumer`'s answer (see {@link Held}); `resumer`
   * runs for all of them in one job after the settling, so after the transition that settled the
   * queue, whose listeners may have cleared or destroyed. Its own cancel or deadline rejects it as
   * {@link wait} does.
   */
  hold(config: InternalAxiosRequestConfig, resumer: Resumer<T>): Held<T> {
    const held = new Held(this.#deadline(), config, resumer);
    this.#add(held, config);
    return held;
  }

  #deadline(): number {
    const timeoutMs = this.#timeoutMs;
    // Whole milliseconds: a small integer, not a boxed number, in each of 100,000 waiters.
    return timeoutMs > 0 ? Math.ceil(this.#clock.elapsed() + timeoutMs) : Number.POSITIVE_INFINITY;
  }

  #add(waiter: Waiter<T>, config: InternalAxiosRequestConfig | undefined): void {
    if (config && !this.#watch(waiter, config)) return;
    this.#waiters.add(waiter);
    this.#arm();
    this.#changed();
  }

  resolveAll(value: T): void {
    this.#all(true, value);
    if (this.#waiters.size === 0) this.#disarm();
  }

  rejectAll(error: unknown): void {
    this.#pacing = undefined;
    this.#clock.clearTimeout(this.#paceTimer);
    this.#all(false, error);
    this.#disarm();
  }

  /** Whether held requests it resolved still wait for their pool (they count as waiting). */
  get pacing(): boolean {
    return this.#pacing !== undefined;
  }

  /**
   * Settles every waiter at once, telling of the change once. Held requests take their resumer's
   * answer in one job after this; those bound for a bounded pool, at its pace.
   */
  #all(ok: boolean, value: unknown): void {
    const size = this.#waiters.size;
    if (size === 0) return;
    const held: Waiter<T>[] = [];
    const paced: Array<Paced<T>> = [];
    this.#bulk = true;
    try {
      for (const waiter of this.#waiters) {
        const pool = ok && waiter.config ? poolOf(waiter.config) : undefined;
        if (pool) paced.push({ waiter, pool });
        else if (waiter.resumer && this.#waiters.delete(waiter)) {
          waiter.cleanup?.();
          if (!ok && typeof value === 'object' && value !== null) this.#delivered.add(value);
          held.push(waiter);
        } else this.#settle(waiter, ok, value);
      }
    } finally {
      this.#bulk = false;
    }
    if (paced.length > 0) {
      this.#pacing = paced;
      this.#pacedWith = value;
      this.#pools = new Set(paced.map(({ pool }) => poolKey(pool))).size;
    }
    if (held.length > 0 || paced.length > 0) {
      const resumption: Resumption<T> = { waiters: held, ok, value };
      queueMicrotask(() => {
        resume(resumption);
        this.#pace();
      });
    }
    if (this.#waiters.size !== size) this.#changed();
  }

  /**
   * Releases the next held requests bound for a bounded pool (Node's agent with a finite
   * `maxSockets`): per agent and host, twice the pool at a time, while the agent's queue for that
   * host is shorter than four pools, in order; then looks again in a millisecond. The agent queues
   * what it cannot start in an array it takes from with `shift()`, which at 100,000 costs more
   * than the requests themselves; here they wait as waiters, for less.
   */
  #pace(): void {
    this.#paceTimer = undefined;
    const pacing = this.#pacing;
    if (!pacing) return;
    const budgets = new Map<Agent, Map<string, number>>();
    const released: Waiter<T>[] = [];
    const left: Array<Paced<T>> = [];
    let exhausted = 0;
    let rest: number | undefined;
    for (let i = 0; i < pacing.length; i++) {
      // Every pool is full: the others keep their place, unread (100,000 of them, say).
      if (exhausted === this.#pools) {
        rest = i;
        break;
      }
      const paced = pacing[i] as Paced<T>;
      const { waiter, pool } = paced;
      // Canceled or timed out meanwhile: settled already.
      if (!this.#waiters.has(waiter)) continue;
      let hosts = budgets.get(pool.agent);
      if (!hosts) {
        hosts = new Map();
        budgets.set(pool.agent, hosts);
      }
      const { size } = pool;
      let budget = hosts.get(pool.host);
      if (budget === undefined) {
        budget = queued(pool) < 4 * size ? 2 * size : 0;
        if (budget === 0) exhausted++;
      }
      if (budget > 0) {
        this.#waiters.delete(waiter);
        waiter.cleanup?.();
        released.push(waiter);
        budget--;
        if (budget === 0) exhausted++;
      } else left.push(paced);
      hosts.set(pool.host, budget);
    }
    if (rest === undefined) {
      // Read through: the pools still waiting are those of what is left.
      this.#pacing = left.length > 0 ? left : undefined;
      this.#pools = new Set(left.map(({ pool }) => poolKey(pool))).size;
    } else if (released.length === 0 && left.length === rest) {
      // Nothing went and nothing was settled meanwhile: the list as it was, not a copy of it.
    } else this.#pacing = left.concat(pacing.slice(rest));
    if (released.length > 0) {
      resume({ waiters: released, ok: true, value: this.#pacedWith });
      this.#changed();
    }
    if (this.#pacing) this.#paceTimer = this.#clock.setTimeout(() => this.#pace(), 1);
    else if (this.#waiters.size === 0) this.#disarm();
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
    const size = this.#waiters.size;
    this.#bulk = true;
    try {
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
    } finally {
      this.#bulk = false;
    }
    if (this.#waiters.size !== size) this.#changed();
    this.#arm();
  }
}

/** An HTTP agent (Node): requests waiting for one of its `maxSockets` sockets, per host. */
interface Agent {
  readonly maxSockets?: number;
  readonly requests?: Record<string, readonly unknown[] | undefined>;
}

/** A held request bound for a bounded pool: its agent, and the host its queue is kept under. */
interface Pool {
  readonly agent: Agent;
  /** The start of the agent's name for the host (`host:port:`, as Node's Agent#getName makes it). */
  readonly host: string;
  /** Its `maxSockets` when the request was held. */
  readonly size: number;
}

interface Paced<T> {
  readonly waiter: Waiter<T>;
  readonly pool: Pool;
}

/** The bounded pool `config` goes out through, if any: the agent of its URL's protocol. */
const poolOf = (config: InternalAxiosRequestConfig): Pool | undefined => {
  const agents = config.httpAgent !== undefined || config.httpsAgent !== undefined;
  if (!agents) return undefined;
  const origin = originFor(config);
  if (origin === null || origin === HOME) return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return undefined;
  }
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:') return undefined;
  const agent = (https ? config.httpsAgent : config.httpAgent) as Agent | undefined;
  const size = agent?.maxSockets;
  if (typeof size !== 'number' || !Number.isFinite(size) || size < 1 || !agent?.requests)
    return undefined;
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { agent, host: `${hostname}:${url.port || (https ? 443 : 80)}:`, size };
};

/** A name for each agent, to count the pools of a queue's paced requests. */
const agentIds = new WeakMap<Agent, number>();
let agents = 0;
const agentId = (agent: Agent): number => {
  let id = agentIds.get(agent);
  if (id === undefined) {
    id = ++agents;
    agentIds.set(agent, id);
  }
  return id;
};

const poolKey = (pool: Pool): string => `${pool.host}\n${agentId(pool.agent)}`;

/**
 * Requests the agent queues for the pool's host: under its name, `host:port:` and what follows
 * (a local address, a family, TLS options), not another host's whose name only begins the same
 * (an IPv6 host `::1:80` on port 80 is `::1:80:80:`, which begins as `::1` on port 80 does).
 */
const queued = ({ agent, host }: Pool): number => {
  let waiting = 0;
  for (const name in agent.requests)
    if (name.startsWith(host) && !ANOTHER_PORT.test(name.slice(host.length)))
      waiting += agent.requests[name]?.length ?? 0;
  return waiting;
};
const ANOTHER_PORT = /^\d+:/;

/** Each held request takes its resumer's answer; one that throws rejects that request alone. */
function resume<T>({ waiters, ok, value }: Resumption<T>): void {
  for (const waiter of waiters) {
    const resumer = waiter.resumer as Resumer<T>;
    const config = waiter.config as InternalAxiosRequestConfig;
    try {
      waiter.resolve(ok ? resumer.resumed(config, value as T) : resumer.failed(config, value));
    } catch (error) {
      waiter.reject(error);
    }
  }
}
