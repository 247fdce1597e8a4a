/**
 * Small fixtures for the gate's unit tests: a mock API that accepts one access token, a refresh whose
 * every call is held open by a deferred, promise trackers, stores and signals that count what is
 * still attached to them.
 */
import axios, { AxiosHeaders, type AxiosInstance, type AxiosRequestConfig } from 'axios';
import MockAdapter from 'axios-mock-adapter';
import {
  type Coordinator,
  createRefreshGate,
  type RefreshContext,
  type RefreshGate,
  type RefreshGateOptions,
  type TokenStore,
  type Tokens,
} from '../../src/index.js';
import { type Deferred, deferred, flush } from './deferred.js';

export const BASE = 'https://api.test';

/** What the mock API answers: 200 for `Bearer <current>`, 401 for anything else. */
export interface MockApi {
  readonly api: AxiosInstance;
  readonly mock: MockAdapter;
  /** The access token the API accepts now; `null` accepts any request. */
  current: string | null;
  /** `[url, Authorization]` of every request that reached the adapter, in order. */
  sent(): Array<[string, string | undefined]>;
}

/** Reads the Authorization header of a config the adapter saw. */
export function authOf(config: AxiosRequestConfig): string | undefined {
  const { headers } = config;
  const value =
    headers instanceof AxiosHeaders ? headers.get('Authorization') : headers?.Authorization;
  return typeof value === 'string' ? value : undefined;
}

/** An axios instance (baseURL {@link BASE} unless told; `null` for none) on a mock API that checks the token. */
export function mockApi(current: string | null = 'good', baseURL: string | null = BASE): MockApi {
  const api = axios.create(baseURL === null ? {} : { baseURL });
  const mock = new MockAdapter(api);
  const state: MockApi = {
    api,
    mock,
    current,
    sent: () => mock.history.map((config) => [config.url ?? '', authOf(config)]),
  };
  mock.onAny().reply((config) => {
    const auth = authOf(config);
    if (state.current === null || auth === `Bearer ${state.current}`) {
      return [200, { url: config.url, auth }];
    }
    return [401, { url: config.url, auth }];
  });
  return state;
}

/** One call of a {@link controlledRefresh}: its context and the deferred that settles it. */
export interface RefreshCall {
  readonly ctx: RefreshContext;
  readonly result: Deferred<Tokens | string>;
}

/** A `refresh` option whose every call stays pending until the test settles its deferred. */
export function controlledRefresh() {
  const calls: RefreshCall[] = [];
  const refresh = jest.fn((ctx: RefreshContext) => {
    const result = deferred<Tokens | string>();
    calls.push({ ctx, result });
    return result.promise;
  });
  const call = (index: number): RefreshCall => {
    const found = calls[index];
    if (!found) throw new Error(`refresh call #${index} was not made (${calls.length} made)`);
    return found;
  };
  return { refresh, calls, call };
}

/** How a promise ended, readable synchronously; `settlements` counts the callbacks that ran. */
export interface Tracked<T> {
  status: 'pending' | 'fulfilled' | 'rejected';
  value: T | undefined;
  error: unknown;
  settlements: number;
  readonly promise: Promise<void>;
}

/** Tracks `promise` without ever leaving its rejection unhandled. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = {
    status: 'pending',
    value: undefined,
    error: undefined,
    settlements: 0,
    promise: Promise.resolve(),
  };
  (tracked as { promise: Promise<void> }).promise = promise.then(
    (value) => {
      tracked.settlements++;
      tracked.status = 'fulfilled';
      tracked.value = value;
    },
    (error: unknown) => {
      tracked.settlements++;
      tracked.status = 'rejected';
      tracked.error = error;
    },
  );
  return tracked;
}

/** The rejection of `promise`, failing the test if it fulfils. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it fulfilled');
}

/** A synchronous store that counts its live subscriptions and lets a test push changes. */
export function countingStore(initial: Tokens | null = null) {
  let tokens = initial;
  const listeners = new Set<(tokens: Tokens | null) => void>();
  const store = {
    get: jest.fn((): Tokens | null => tokens),
    set: jest.fn((next: Tokens): void => {
      tokens = next;
    }),
    clear: jest.fn((): void => {
      tokens = null;
    }),
    subscribe: jest.fn((listener: (tokens: Tokens | null) => void) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    }),
  } satisfies TokenStore;
  return {
    store,
    /** What the store holds, read without counting as a `get` call. */
    peek: () => tokens,
    /** A change made elsewhere (another tab): stored, then told to the subscribers. */
    push(next: Tokens | null) {
      tokens = next;
      for (const listener of [...listeners]) listener(next);
    },
    subscriptions: () => listeners.size,
  };
}

/** An AbortController whose signal counts the 'abort' listeners still attached to it. */
export function countedController() {
  const controller = new AbortController();
  const { signal } = controller;
  // listener -> registered with { once: true } (the signal drops those itself when it fires)
  const live = new Map<unknown, boolean>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  add('abort', () => {
    for (const [listener, once] of live) if (once) live.delete(listener);
  });
  signal.addEventListener = ((type: string, listener: unknown, options?: unknown) => {
    const once =
      typeof options === 'object' && options !== null && 'once' in options && !!options.once;
    if (type === 'abort' && !live.has(listener)) live.set(listener, once);
    add(type, listener as EventListener, options as AddEventListenerOptions);
  }) as AbortSignal['addEventListener'];
  signal.removeEventListener = ((type: string, listener: unknown, options?: unknown) => {
    if (type === 'abort') live.delete(listener);
    remove(type, listener as EventListener, options as EventListenerOptions);
  }) as AbortSignal['removeEventListener'];
  return { controller, signal, listeners: () => live.size };
}

/** A logger whose calls a test can inspect. */
export function spyLogger() {
  return { debug: jest.fn(), warn: jest.fn() };
}

/** An unsigned JWT with the given `exp` (epoch seconds). */
export function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.sig`;
}

/**
 * A coordinator whose lock is taken by someone else until `open()`: the refresh waits for it, so a
 * test can queue requests or change the store before the gate's code under the lock runs.
 */
export function latchedCoordinator() {
  const latch = deferred<void>();
  const coordinator: Coordinator = {
    runExclusive: async (fn) => {
      await latch.promise;
      return fn();
    },
  };
  return { coordinator, open: () => latch.resolve() };
}

/** How long one operation of an {@link asyncStore} takes: `'manual'` waits for the test. */
export type StoreLatency = number | 'manual';

/** One operation of an {@link asyncStore} under way. */
export interface StoreOp {
  readonly kind: 'get' | 'set' | 'clear';
  /** What a `set` writes. */
  readonly tokens: Tokens | null;
  /** Ends it: a write takes effect now, a read answers what the store holds now. */
  settle(): void;
  /** Ends it with a rejection (nothing is written). */
  fail(error: unknown): void;
}

/**
 * An asynchronous store (AsyncStorage, IndexedDB, Redis) whose every operation takes `latency`:
 * `0` (the default) settles in a microtask, a number of ms settles on a timer (fake timers drive
 * it), `'manual'` waits until the test calls `release()`. A write takes effect when it settles,
 * so a slow `set()` is not seen by `get()` before. `failGet` (set it any time) makes reads reject.
 */
export function asyncStore(
  initial: Tokens | null = null,
  latency: { get?: StoreLatency; set?: StoreLatency; clear?: StoreLatency } = {},
) {
  let tokens = initial;
  const listeners = new Set<(tokens: Tokens | null) => void>();
  const pending: StoreOp[] = [];
  const control = {
    /** When not `undefined`, every read settles by rejecting with it. */
    failGet: undefined as unknown,
  };

  function run<T>(
    kind: StoreOp['kind'],
    written: Tokens | null,
    answer: () => T,
    ms: StoreLatency,
  ): Promise<T> {
    const done = deferred<T>();
    let open = true;
    const end = (settle: () => void) => {
      if (!open) return;
      open = false;
      const at = pending.indexOf(op);
      if (at >= 0) pending.splice(at, 1);
      settle();
    };
    const op: StoreOp = {
      kind,
      tokens: written,
      settle: () =>
        end(() => {
          try {
            done.resolve(answer());
          } catch (error) {
            done.reject(error);
          }
        }),
      fail: (error) => end(() => done.reject(error)),
    };
    if (ms === 'manual') pending.push(op);
    else if (ms > 0) setTimeout(op.settle, ms);
    else queueMicrotask(op.settle);
    return done.promise;
  }

  const store = {
    get: jest.fn(
      (): Promise<Tokens | null> =>
        run(
          'get',
          null,
          () => {
            if (control.failGet !== undefined) throw control.failGet;
            return tokens;
          },
          latency.get ?? 0,
        ),
    ),
    set: jest.fn(
      (next: Tokens): Promise<void> =>
        run(
          'set',
          next,
          () => {
            tokens = next;
          },
          latency.set ?? 0,
        ),
    ),
    clear: jest.fn(
      (): Promise<void> =>
        run(
          'clear',
          null,
          () => {
            tokens = null;
          },
          latency.clear ?? 0,
        ),
    ),
    subscribe: jest.fn((listener: (tokens: Tokens | null) => void) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    }),
  } satisfies TokenStore;

  return {
    store,
    control,
    /** What the store holds, read without counting as a `get` call. */
    peek: () => tokens,
    /** The operations still under way (`'manual'` ones), oldest first. */
    pending: (kind?: StoreOp['kind']) =>
      pending.filter((op) => kind === undefined || op.kind === kind),
    /** Settles the oldest manual operation (of `kind`); fails the test when there is none. */
    release(kind?: StoreOp['kind']) {
      const op = pending.find((candidate) => kind === undefined || candidate.kind === kind);
      if (!op) throw new Error(`no ${kind ?? ''} store operation is pending`);
      op.settle();
    },
    /** Settles every manual operation, oldest first (a store applies its commands in order). */
    releaseAll() {
      for (const op of [...pending]) op.settle();
    },
    /**
     * Settles manual operations oldest first, and those they lead to, until none is left (at most
     * `rounds` rounds, so that a gate that keeps writing cannot hang the test).
     */
    async drain(rounds = 20) {
      for (let round = 0; round < rounds; round++) {
        await flush();
        if (pending.length === 0) return;
        for (const op of [...pending]) op.settle();
      }
      throw new Error(`the store still had ${pending.length} operations under way`);
    },
    /** A change made elsewhere (another tab): stored, then told to the subscribers. */
    push(next: Tokens | null) {
      tokens = next;
      for (const listener of [...listeners]) listener(next);
    },
    subscriptions: () => listeners.size,
  };
}

/**
 * A coordinator around `inProcessCoordinator()` that records every `publish`, to check what a gate
 * told its scope (and when).
 */
export function recordingCoordinator(inner: Coordinator) {
  const published: Array<Tokens | null> = [];
  const coordinator: Coordinator = {
    runExclusive: (fn, opts) => inner.runExclusive(fn, opts),
    publish(tokens) {
      published.push(tokens);
      inner.publish?.(tokens);
    },
    subscribe: (listener) => inner.subscribe?.(listener) ?? (() => {}),
  };
  return { coordinator, published };
}

/**
 * `setup(options)`: a gate holding `A0`/`R0` whose refresh the test answers (`control`), destroyed
 * after each test. Call at the top of a test file.
 */
export function gatesHoldingA0() {
  const made: RefreshGate[] = [];
  afterEach(() => {
    for (const gate of made.splice(0)) gate.destroy();
  });
  return (options: Partial<RefreshGateOptions> = {}) => {
    const control = controlledRefresh();
    const gate = createRefreshGate({
      refresh: control.refresh,
      initialTokens: { accessToken: 'A0', refreshToken: 'R0' },
      logger: { debug() {}, warn() {} },
      ...options,
    });
    made.push(gate);
    return { gate, control };
  };
}
