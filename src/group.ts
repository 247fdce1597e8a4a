import type { AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { systemClock } from './clock.js';
import { RefreshGateError } from './errors.js';
import { expected } from './format.js';
import { publicGate } from './gate.js';
import { GateCore } from './gate-core.js';
import { memoryStore } from './memory-store.js';
import { type ResolvedOptions, resolveOptions } from './options.js';
import { createOriginPolicy } from './origins.js';
import { createRequestInterceptor } from './request-interceptor.js';
import { createResponseInterceptor } from './response-interceptor.js';
import type {
  Coordinator,
  RefreshContext,
  RefreshGate,
  RefreshGateGroup,
  RefreshGateGroupOptions,
  RefreshGateOptions,
} from './types.js';

type Config = InternalAxiosRequestConfig;
type Handlers = {
  readonly request: ReturnType<typeof createRequestInterceptor>;
  readonly response: ReturnType<typeof createResponseInterceptor>;
};

/** The key a request was sent under: its response and its replay go to the same gate. */
const KEY = Symbol('axios-refresh-gate.key');

interface Entry {
  readonly core: GateCore;
  readonly gate: RefreshGate;
  /** The interceptors of this key's gate, per instance, made on first use. */
  readonly handlers: Map<AxiosInstance, Handlers>;
  /** Last used, on the monotonic clock. */
  used: number;
}

/**
 * The lock of a key no other gate shares: one refresh at a time (a timed-out one that goes on
 * still holds it), and nothing else, for a few bytes per key.
 */
const soloCoordinator = (): Coordinator => {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    runExclusive(fn, { signal }) {
      const run = tail.then(() => {
        if (signal.aborted) throw signal.reason;
        return fn();
      });
      tail = run.then(undefined, () => undefined);
      return run;
    },
  };
};

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

  const entries = new Map<string, Entry>();
  const attachments = new Map<AxiosInstance, () => void>();
  let destroyed = false;
  let sweeper: unknown;

  const busy = (entry: Entry) => {
    const { status, waiting } = entry.core.state;
    return status === 'refreshing' || waiting > 0;
  };

  const drop = (name: string, entry: Entry) => {
    entries.delete(name);
    entry.gate.destroy();
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
      if (now - entry.used >= idleMs && !busy(entry)) drop(name, entry);
    }
    arm();
  };

  const arm = () => {
    if (sweeper !== undefined || entries.size === 0 || idleMs === 0 || destroyed) return;
    sweeper = systemClock.setTimeout(sweep, Math.max(idleMs / 4, 1_000));
    // A server's process must not stay alive for its idle sweep alone.
    (sweeper as { unref?: () => void }).unref?.();
  };

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
    const lock = coordinator ? coordinator(name) : soloCoordinator();
    if (typeof lock !== 'object' || lock === null || typeof lock.runExclusive !== 'function')
      invalid('coordinator(key)', 'a Coordinator with a runExclusive function', lock);
    // The shared options as prototype, this key's own on top: a few fields, not a copy of 30.
    const core = new GateCore(
      Object.assign(Object.create(shared) as ResolvedOptions, {
        store: own,
        coordinator: lock,
        // Made for this key: disposed of with its gate.
        ownsCoordinator: true,
        refresh: (ctx: RefreshContext) => refresh({ ...ctx, key: name }),
        origins,
      }),
    );
    const handlers = new Map<AxiosInstance, Handlers>();
    const gate = publicGate(
      core,
      () => {
        throw new RefreshGateError(
          'INVALID_OPTIONS',
          "a group's gate is attached through the group: group.attach(instance)",
        );
      },
      () => {
        handlers.clear();
        // The key's gate destroyed through its handle: the group lets go of it (its next request
        // gets a new gate) rather than answering DESTROYED for ever.
        if (entries.get(name) === created) entries.delete(name);
      },
    );
    const created: Entry = { core, gate, handlers, used: systemClock.elapsed() };
    entry = created;
    entries.set(name, entry);
    evict();
    arm();
    return entry;
  };

  const handlersOf = (entry: Entry, instance: AxiosInstance): Handlers => {
    let found = entry.handlers.get(instance);
    if (!found) {
      found = {
        request: createRequestInterceptor(entry.core, instance),
        response: createResponseInterceptor(entry.core, instance),
      };
      entry.handlers.set(instance, found);
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
        return handlersOf(entryFor(name), instance).request(config);
      });
      const forResponse = (config: Config | undefined) => {
        const name = config && (config as unknown as Record<symbol, string | undefined>)[KEY];
        return name === undefined || destroyed
          ? undefined
          : handlersOf(entryFor(name), instance).response;
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
        for (const entry of entries.values()) entry.handlers.delete(instance);
      };
      attachments.set(instance, detach);
      return detach;
    },
    forKey: (name) => {
      if (typeof name !== 'string' || name === '')
        invalid('forKey(key)', 'a non-empty string', name);
      return entryFor(name).gate;
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
