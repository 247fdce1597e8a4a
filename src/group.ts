import type { AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { systemClock } from './clock.js';
import { RefreshGateError } from './errors.js';
import { expected } from './format.js';
import { publicGate } from './gate.js';
import { GateCore, type Parked } from './gate-core.js';
import { memoryStore } from './memory-store.js';
import { type ResolvedOptions, resolveOptions } from './options.js';
import { createOriginPolicy } from './origins.js';
import { createRequestInterceptor } from './request-interceptor.js';
import { createResponseInterceptor } from './response-interceptor.js';
import { TokenPlacement } from './token-placement.js';
import type {
  Coordinator,
  HeldLock,
  RefreshContext,
  RefreshGate,
  RefreshGateGroup,
  RefreshGateGroupOptions,
  RefreshGateOptions,
  TokenStore,
} from './types.js';

type Config = InternalAxiosRequestConfig;
type Handlers = {
  readonly request: ReturnType<typeof createRequestInterceptor>;
  readonly response: ReturnType<typeof createResponseInterceptor>;
};

/** The key a request was sent under: its response and its replay go to the same gate. */
const KEY = Symbol('axios-refresh-gate.key');

/**
 * A gate unused this long, with nothing under way, parks: it gives up its machine (some 3 KB) and
 * keeps its key, its store and its counters; its next use makes the machine again.
 */
const PARK_MS = 10_000;

/** One key's gate in the group: its store and lock for as long as it is in the group. */
interface Entry {
  readonly store: TokenStore;
  /** The key's `coordinator(key)`, kept while parked; without one, a solo lock per machine. */
  readonly lock: Coordinator | undefined;
  /** The machine while the key is in use; `undefined` while parked. */
  live: Live | undefined;
  /** What a parked gate's next machine goes on from. */
  parked: Parked | undefined;
  /** Left the group (deleted, evicted, destroyed): its handles answer as a destroyed gate. */
  dropped: boolean;
  /**
   * The handle forKey() gave, while anyone keeps it: the same one comes back after parking. Weak,
   * so that a parked gate nobody holds a handle of does not keep one.
   */
  handle: WeakRef<RefreshGate> | undefined;
  /** Last used, on the monotonic clock. */
  used: number;
}

interface Live {
  readonly core: GateCore;
  readonly solo: SoloLock | undefined;
  /** The handle, held while the machine lives (see {@link Entry.handle}). */
  gate: RefreshGate | undefined;
  /** The interceptors of this machine, per instance, made on first use. */
  readonly handlers: Map<AxiosInstance, Handlers>;
}

/**
 * The lock of a key no other gate shares: one refresh at a time (a timed-out one that goes on
 * still holds it), and nothing else, for a few bytes per key.
 */
class SoloLock implements Coordinator {
  #tail: Promise<unknown> = Promise.resolve();
  #held = 0;

  /** A refresh holds it or waits for it: the machine must not park and leave it behind. */
  get busy(): boolean {
    return this.#held > 0;
  }

  runExclusive<T>(
    fn: (lock?: HeldLock) => Promise<T>,
    { signal }: { signal: AbortSignal },
  ): Promise<T> {
    this.#held++;
    const run = this.#tail.then(() => {
      if (signal.aborted) throw signal.reason;
      return fn();
    });
    const free = () => {
      this.#held--;
    };
    this.#tail = run.then(free, free);
    return run;
  }
}

const invalid = (name: string, what: string, value: unknown): never => {
  throw new RefreshGateError('INVALID_OPTIONS', expected(name, what, value));
};

/**
 * One gate per user or tenant, on one axios instance: a server acting for many users. `key(config)`
 * (or the request's `refreshGateKey`) says whose a request is; each key gets its own gate, with
 * its own store (`store(key)`) and its own single flight; a request with no key passes untouched.
 *
 * The key must name everything that changes the token (user, tenant, audience, scope): two
 * requests under one key share one token.
 *
 * @example
 * ```ts
 * const group = createRefreshGateGroup({
 *   key: (config) => config.headers.get('x-user-id') ?? undefined,
 *   store: (userId) => sessionStore(userId),
 *   refresh: async ({ key, tokens, signal }) => refreshFor(key, tokens, signal),
 * });
 * group.attach(api);
 * ```
 */
export function createRefreshGateGroup(options: RefreshGateGroupOptions): RefreshGateGroup {
  const { key, store, coordinator, maxGates = 10_000, idleMs = 15 * 60_000, ...base } = options;
  if (typeof key !== 'function') invalid('key', 'a function (config) => string | undefined', key);
  if (typeof store !== 'function') invalid('store', 'a function (key) => TokenStore', store);
  if (coordinator !== undefined && typeof coordinator !== 'function')
    invalid('coordinator', 'a function (key) => Coordinator: one lock per key', coordinator);
  if (!Number.isInteger(maxGates) || maxGates < 1) invalid('maxGates', 'an integer >= 1', maxGates);
  if (typeof idleMs !== 'number' || !(idleMs >= 0)) invalid('idleMs', 'a number >= 0', idleMs);
  const { refresh } = base as RefreshGateOptions;
  // Every other option is checked now, once: the gates share what they can (the resolved options,
  // the server clock's estimate, the origin rule), and own only their tokens, lock and machine.
  const shared = resolveOptions({ ...base, store: memoryStore() } as RefreshGateOptions);
  let warned = false;
  const origins = createOriginPolicy(shared.allowedOrigins, (origin) => {
    if (warned) return;
    warned = true;
    shared.logger.warn(
      `no token attached to a request for ${origin}: an absolute URL needs the instance's baseURL on its origin, or allowedOrigins`,
    );
  });

  // One placement for every key's gate: a request is one key's, and a parked gate's next machine
  // reads which token a request still out was sent with.
  const placement = new TokenPlacement(shared);
  const entries = new Map<string, Entry>();
  const attachments = new Map<AxiosInstance, () => void>();
  let destroyed = false;
  let sweeper: unknown;
  /** What the handles of a key that left the group answer with: a destroyed gate. */
  let ghost: GateCore | undefined;

  const busy = (entry: Entry) => {
    if (!entry.live) return false;
    const { status, waiting } = entry.live.core.state;
    return status === 'refreshing' || waiting > 0;
  };

  const quietly = (run: () => void) => {
    try {
      run();
    } catch (error) {
      shared.logger.warn('disposing of a coordinator failed', error);
    }
  };

  const drop = (name: string, entry: Entry) => {
    if (entries.get(name) === entry) entries.delete(name);
    if (entry.dropped) return;
    entry.dropped = true;
    const live = entry.live;
    if (live) {
      live.handlers.clear();
      // Disposes of the key's own lock too (ownsCoordinator).
      live.core.destroy();
    } else {
      entry.parked?.relay?.stop();
      if (entry.lock?.dispose) quietly(() => entry.lock?.dispose?.());
    }
  };

  const park = (entry: Entry) => {
    const live = entry.live;
    if (!live || live.solo?.busy) return;
    const parked = live.core.park();
    if (!parked) return;
    entry.live = undefined;
    entry.parked = parked;
  };

  /** Least recently used first (a Map keeps insertion order; a use moves an entry last). */
  const evict = () => {
    for (const [name, entry] of entries) {
      if (entries.size <= maxGates) return;
      if (!busy(entry)) drop(name, entry);
    }
  };

  const sweep = () => {
    sweeper = undefined;
    const now = systemClock.elapsed();
    for (const [name, entry] of entries) {
      const unused = now - entry.used;
      // In the order of last use: every entry from here on was used since.
      if (unused < PARK_MS && (idleMs === 0 || unused < idleMs)) break;
      if (idleMs > 0 && unused >= idleMs) {
        if (!busy(entry)) drop(name, entry);
      } else park(entry);
    }
    arm();
  };

  const arm = () => {
    if (sweeper !== undefined || entries.size === 0 || destroyed) return;
    const every = Math.min(PARK_MS / 2, idleMs > 0 ? Math.max(idleMs / 4, 1_000) : PARK_MS);
    sweeper = systemClock.setTimeout(sweep, every);
    // A server's process must not stay alive for its idle sweep alone.
    (sweeper as { unref?: () => void }).unref?.();
  };

  /** The machine of `entry`: made again if it was parked; a key that left the group's is dead. */
  const liveOf = (name: string, entry: Entry): Live => {
    const live = entry.live;
    if (live) return live;
    if (entry.dropped) {
      ghost ??= machine(name, memoryStore(), new SoloLock(), false);
      ghost.destroy();
      return { core: ghost, solo: undefined, gate: undefined, handlers: new Map() };
    }
    const solo = entry.lock ? undefined : new SoloLock();
    const core = machine(name, entry.store, entry.lock ?? (solo as SoloLock), true, entry.parked);
    entry.parked = undefined;
    const made: Live = { core, solo, gate: undefined, handlers: new Map() };
    entry.live = made;
    return made;
  };

  const machine = (
    name: string,
    store: TokenStore,
    lock: Coordinator,
    owns: boolean,
    parked?: Parked,
  ): GateCore =>
    // The shared options as prototype, this key's own on top: a few fields, not a copy of 30.
    new GateCore(
      Object.assign(Object.create(shared) as ResolvedOptions, {
        store,
        coordinator: lock,
        // Made for this key: disposed of with its gate.
        ownsCoordinator: owns,
        refresh: (ctx: RefreshContext) => refresh({ ...ctx, key: name }),
        origins,
        placement,
      }),
      parked,
    );

  const entryFor = (name: string): Entry => {
    if (destroyed) throw new RefreshGateError('DESTROYED', 'the refresh gate group was destroyed');
    let entry = entries.get(name);
    if (entry) {
      entries.delete(name);
      entries.set(name, entry);
      entry.used = systemClock.elapsed();
      return entry;
    }
    const own = store(name);
    if (
      typeof own !== 'object' ||
      own === null ||
      typeof own.get !== 'function' ||
      typeof own.set !== 'function' ||
      typeof own.clear !== 'function'
    )
      invalid('store(key)', 'a TokenStore with get, set and clear functions', own);
    const lock = coordinator ? coordinator(name) : undefined;
    if (
      coordinator &&
      (typeof lock !== 'object' || lock === null || typeof lock.runExclusive !== 'function')
    )
      invalid('coordinator(key)', 'a Coordinator with a runExclusive function', lock);
    entry = {
      store: own,
      lock,
      live: undefined,
      parked: undefined,
      dropped: false,
      handle: undefined,
      used: systemClock.elapsed(),
    };
    entries.set(name, entry);
    evict();
    arm();
    return entry;
  };

  /** The handle of `name`'s gate; one an app keeps finds the machine of the moment. */
  const gateOf = (name: string, entry: Entry): RefreshGate => {
    const live = liveOf(name, entry);
    if (live.gate) return live.gate;
    const kept = entry.handle?.deref();
    if (kept) {
      live.gate = kept;
      return kept;
    }
    const made = publicGate(
      () => liveOf(name, entry).core,
      () => {
        throw new RefreshGateError(
          'INVALID_OPTIONS',
          "a group's gate is attached through the group: group.attach(instance)",
        );
      },
      // The key's gate destroyed through its handle: the group lets go of it (its next request
      // gets a new gate) rather than answering DESTROYED for ever.
      () => drop(name, entry),
    );
    live.gate = made;
    entry.handle = new WeakRef(made);
    return live.gate;
  };

  const handlersOf = (name: string, entry: Entry, instance: AxiosInstance): Handlers => {
    const live = liveOf(name, entry);
    let found = live.handlers.get(instance);
    if (!found) {
      found = {
        request: createRequestInterceptor(live.core, instance),
        response: createResponseInterceptor(live.core, instance),
      };
      live.handlers.set(instance, found);
    }
    return found;
  };

  const keyOf = (config: Config): string | undefined => {
    const marked = (config as unknown as Record<symbol, string | undefined>)[KEY];
    if (marked !== undefined) return marked;
    const given = config.refreshGateKey ?? key(config);
    if (given === undefined || given === null || given === '') return undefined;
    if (typeof given !== 'string')
      throw new RefreshGateError(
        'INVALID_OPTIONS',
        expected('key(config)', 'a string or undefined', given),
      );
    (config as unknown as Record<symbol, string>)[KEY] = given;
    return given;
  };

  const group: RefreshGateGroup = {
    attach(instance) {
      if (destroyed)
        throw new RefreshGateError('DESTROYED', 'the refresh gate group was destroyed');
      const existing = attachments.get(instance);
      if (existing) return existing;
      const request = instance.interceptors.request.use((config) => {
        const name = keyOf(config);
        if (name === undefined) return config;
        return handlersOf(name, entryFor(name), instance).request(config);
      });
      const forResponse = (config: Config | undefined) => {
        const name = config && (config as unknown as Record<symbol, string | undefined>)[KEY];
        return name === undefined || destroyed
          ? undefined
          : handlersOf(name, entryFor(name), instance).response;
      };
      const response = instance.interceptors.response.use(
        (answer: AxiosResponse) => forResponse(answer.config)?.accepted(answer) ?? answer,
        (error: unknown) => {
          const handlers = forResponse((error as { config?: Config } | null)?.config);
          if (!handlers) throw error;
          return handlers.rejected(error);
        },
      );
      const detach = () => {
        if (attachments.get(instance) !== detach) return;
        attachments.delete(instance);
        instance.interceptors.request.eject(request);
        instance.interceptors.response.eject(response);
        for (const entry of entries.values()) entry.live?.handlers.delete(instance);
      };
      attachments.set(instance, detach);
      return detach;
    },
    forKey: (name) => {
      if (typeof name !== 'string' || name === '')
        invalid('forKey(key)', 'a non-empty string', name);
      return gateOf(name, entryFor(name));
    },
    get size() {
      return entries.size;
    },
    delete(name) {
      const entry = entries.get(name);
      if (entry) drop(name, entry);
    },
    destroy() {
      if (destroyed) return;
      for (const detach of [...attachments.values()]) detach();
      for (const [name, entry] of [...entries]) drop(name, entry);
      destroyed = true;
      systemClock.clearTimeout(sweeper);
      sweeper = undefined;
    },
  };
  return group;
}
