import { expected } from '../format.js';
import {
  type Coordinator,
  type GateLogger,
  type HeldLock,
  inProcessCoordinator,
  RefreshGateError,
  type Tokens,
} from '../index.js';
import { defaultLogger } from '../logger.js';
import { readTokens } from '../token-shape.js';
import { fingerprint, indexedDbLedger } from './ledger.js';

/**
 * Options of {@link broadcastCoordinator}.
 *
 * @example
 * ```ts
 * broadcastCoordinator({ name: 'my-app-auth', logger: console });
 * ```
 */
export interface BroadcastCoordinatorOptions {
  /**
   * The Web Lock and BroadcastChannel name: tabs of one origin that use the same name share one
   * refresh. Use one name per account or token set.
   * @default 'axios-refresh-gate'
   */
  readonly name?: string | undefined;
  /**
   * Where the coordinator says, once, that it fell back to coordinating within this tab only.
   * @default warnings to `console.warn`
   */
  readonly logger?: Pick<GateLogger, 'warn'> | undefined;
}

const DEFAULT_NAME = 'axios-refresh-gate';
/** How long confirm() waits for a word the ledger has and this tab has not heard. */
const GRACE_MS = 5_000;
/** Marks our messages, so that other code posting on a channel of the same name is ignored. */
const SOURCE = 'axios-refresh-gate';

interface Platform {
  locks: LockManager | undefined;
  Channel: typeof BroadcastChannel | undefined;
}

function detect(): Platform {
  const scope = globalThis as {
    navigator?: { locks?: LockManager };
    BroadcastChannel?: typeof BroadcastChannel;
  };
  const locks = scope.navigator?.locks;
  return {
    // Web Locks exist only in secure contexts (https, localhost); elsewhere `locks` is undefined.
    locks: typeof locks?.request === 'function' ? locks : undefined,
    Channel: typeof scope.BroadcastChannel === 'function' ? scope.BroadcastChannel : undefined,
  };
}

/**
 * Makes every tab (and worker) of an origin behave as one gate: the refresh runs under a Web Lock,
 * so one tab refreshes while the others wait for the lock, re-read the store when they get it and
 * use the tokens the first tab stored; new tokens are announced on a BroadcastChannel so that idle
 * tabs update at once. A tab closed or crashed mid-refresh releases the lock (the browser does it)
 * and the next tab takes over.
 *
 * Pair it with a store all tabs share, such as {@link webStorageStore} on `localStorage`. Where Web
 * Locks are missing (insecure contexts, old browsers, some webviews, Node) it coordinates within
 * this tab only, like `inProcessCoordinator()`; where only BroadcastChannel is missing it keeps the
 * Web Lock and announces within this tab only. Either way the logger says so once.
 *
 * @example
 * ```ts
 * import { attachRefreshGate } from 'axios-refresh-gate';
 * import { broadcastCoordinator, webStorageStore } from 'axios-refresh-gate/browser';
 *
 * attachRefreshGate(api, {
 *   refresh,
 *   store: webStorageStore(localStorage),
 *   coordinator: broadcastCoordinator(),
 * });
 * ```
 */
export function broadcastCoordinator(options: BroadcastCoordinatorOptions = {}): Coordinator {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'an object { name?, logger? }', options);
  }
  const { name = DEFAULT_NAME, logger = defaultLogger } = options;
  if (typeof name !== 'string' || name === '') {
    throw invalid('name', 'a non-empty string', name);
  }
  if (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function') {
    throw invalid('logger', 'an object with a warn function (console fits)', logger);
  }
  const { locks, Channel } = detect();
  const local = inProcessCoordinator();

  const missing = [
    ...(locks ? [] : ['Web Locks (navigator.locks)']),
    ...(Channel ? [] : ['BroadcastChannel']),
  ];
  if (missing.length > 0) {
    logger.warn(
      `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not available here (an insecure context, an old browser, a webview or Node): ${
        locks
          ? 'refreshes are still one at a time across tabs, but new tokens are announced within this tab only'
          : 'refreshes and new tokens are coordinated within this tab only'
      }`,
    );
  }

  if (!locks) return local;

  const channel = Channel ? new Channel(name) : undefined;
  // A second object on the channel, to post the barrier's pings from (a channel object does not
  // hear its own messages).
  const probe = Channel ? new Channel(name) : undefined;
  const listeners = new Set<(tokens: Tokens | null) => void>();
  const pings = new Map<string, () => void>();
  const ledger = indexedDbLedger(name);
  /** The scope's word this tab heard last (announced, or published here), and its fingerprint. */
  let last: { state: string; tokens: Tokens | null } | undefined;
  const hearing = new Set<() => void>();
  /** The fingerprints this tab heard, oldest first (a few): tells a record older than its view. */
  const history: string[] = [];
  /** The record and tokens confirm() last waited a whole grace for. */
  let waited: string | undefined;
  const heard = (tokens: Tokens | null) => {
    last = { state: fingerprint(tokens), tokens };
    history.push(last.state);
    if (history.length > 16) history.shift();
    for (const check of [...hearing]) check();
  };
  /** The ledger's write of the last word published here: the lock is let go once it is done. */
  let recording: Promise<void> = Promise.resolve();
  let sequence = 0;
  const onMessage = (event: MessageEvent) => {
    const data = event.data as { source?: unknown; tokens?: unknown; ping?: unknown } | null;
    if (typeof data !== 'object' || data === null || data.source !== SOURCE) return;
    if (typeof data.ping === 'string') {
      pings.get(data.ping)?.();
      return;
    }
    // null is a logout; anything else that is not tokens (or could inject a header) is ignored.
    const tokens = data.tokens === null ? null : readTokens(data.tokens);
    if (tokens === null && data.tokens !== null) return;
    for (const listener of [...listeners]) listener(tokens);
    heard(tokens);
  };
  channel?.addEventListener('message', onMessage);
  let disposed = false;

  /**
   * Resolves once every message posted on the channel before the call has been delivered here.
   * The lock holder announces its tokens before it releases the lock, but the browser delivers
   * the lock grant and the channel's messages on separate paths, so the grant can come first;
   * a ping sent through the channel after the grant arrives after them.
   */
  const barrier = (): Promise<void> | undefined => {
    if (!channel || !probe || disposed) return undefined;
    const id = `${++sequence}:${Math.random()}`;
    return new Promise<void>((resolve) => {
      pings.set(id, () => {
        pings.delete(id);
        resolve();
      });
      probe.postMessage({ source: SOURCE, ping: id });
    });
  };

  /**
   * Right before the refresh call, under the lock: whether the tokens about to be presented are
   * the scope's last word, as the ledger (consistent across tabs) has it. If another tab rotated
   * them and this tab has not heard yet (its announcement and localStorage both still on their
   * way), it waits until it hears them: the gate adopts them then, and never presents a refresh
   * token the provider has rotated. Bounded by the refresh's own signal.
   */
  const confirm = async (presenting: Tokens | null | undefined, signal: AbortSignal) => {
    const recorded = await ledger?.read();
    const presented = fingerprint(presenting ?? null);
    if (recorded === undefined || recorded === presented) return undefined;
    // A record older than this tab's view (its write failed or landed late, or a tab without the
    // ledger moved the scope on): no word is coming for it.
    const at = history.lastIndexOf(recorded);
    if (at >= 0 && history.lastIndexOf(presented) > at) return undefined;
    const key = `${recorded}>${presented}`;
    if (waited === key) return undefined;
    return new Promise<Tokens | null>((resolve, reject) => {
      // A word that does not come within GRACE_MS: the lock is taken again (the flight reads the
      // store afresh, which has caught up by then if it lagged); if this tab then presents the
      // same tokens against the same record, the record is behind (its write failed, or a tab
      // without the ledger moved the scope on): they are presented, and the refresh's own word
      // repairs the ledger.
      const timer = setTimeout(() => {
        done();
        waited = key;
        reject(
          new RefreshGateError(
            'LOCK_LOST',
            `the scope's last word (broadcastCoordinator "${name}") was not heard within ${GRACE_MS} ms; reading the store again`,
          ),
        );
      }, GRACE_MS);
      const done = () => {
        clearTimeout(timer);
        hearing.delete(check);
        signal.removeEventListener('abort', stop);
      };
      const check = () => {
        if (last?.state !== recorded) return;
        done();
        resolve(last.tokens);
      };
      const stop = () => {
        done();
        reject(signal.reason);
      };
      if (signal.aborted) return stop();
      hearing.add(check);
      signal.addEventListener('abort', stop, { once: true });
      check();
    });
  };

  return {
    runExclusive(fn, opts) {
      if (disposed) {
        return Promise.reject(
          new RefreshGateError(
            'DESTROYED',
            `this broadcastCoordinator ("${name}") was disposed of; make a new one to refresh again`,
          ),
        );
      }
      const lock: HeldLock = {
        // A Web Lock is never lost while its tab lives.
        signal: new AbortController().signal,
        confirm: (presenting) => confirm(presenting, opts.signal),
      };
      return runUnderWebLock(
        locks,
        name,
        () => fn(ledger ? lock : undefined),
        opts,
        barrier,
        () => settled(recording),
      );
    },
    publish(tokens) {
      if (disposed) return;
      if (!channel) return local.publish?.(tokens);
      // Only the known fields cross to the other tabs; tokens that are not tokens are not sent
      // (as null they would log the other tabs out).
      const known = tokens === null ? null : readTokens(tokens);
      if (known === null && tokens !== null) return;
      // Gates of this tab sharing this coordinator hear each other at once, as with the
      // in-process and Redis ones (a channel object does not hear its own messages).
      for (const listener of [...listeners]) listener(known);
      channel.postMessage({ source: SOURCE, tokens: known });
      heard(known);
      if (ledger) {
        const state = fingerprint(known);
        recording = recording.then(() => ledger.record(state));
      }
    },
    subscribe(listener) {
      if (!channel) return local.subscribe?.(listener) ?? (() => {});
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      listeners.clear();
      local.dispose?.();
      for (const done of [...pings.values()]) done();
      ledger?.close();
      if (channel) {
        channel.removeEventListener('message', onMessage);
        channel.close();
      }
      probe?.close();
    },
  };
}

async function runUnderWebLock<T>(
  locks: LockManager,
  name: string,
  fn: () => Promise<T>,
  { signal, timeoutMs }: { signal: AbortSignal; timeoutMs: number },
  barrier: () => Promise<void> | undefined,
  recorded: () => Promise<void>,
): Promise<T> {
  signal.throwIfAborted();
  // The lock request gets its own signal: it aborts on the caller's signal *or* on timeoutMs,
  // and only while waiting (aborting a granted request does nothing in Web Locks).
  const waiting = new AbortController();
  const giveUp = () => waiting.abort(signal.reason);
  signal.addEventListener('abort', giveUp, { once: true });
  const timer =
    timeoutMs > 0
      ? setTimeout(
          () =>
            waiting.abort(
              new RefreshGateError(
                'REFRESH_TIMEOUT',
                `the refresh lock was not acquired within ${timeoutMs} ms (refreshTimeoutMs)`,
              ),
            ),
          timeoutMs,
        )
      : undefined;
  const stopWaiting = () => {
    clearTimeout(timer);
    signal.removeEventListener('abort', giveUp);
  };
  try {
    return await locks.request(name, { mode: 'exclusive', signal: waiting.signal }, () => {
      stopWaiting();
      // The grant and the abort can land in the same turn; the caller has already been told no.
      if (waiting.signal.aborted) throw waiting.signal.reason;
      return holdWhile(async () => {
        await barrier();
        // Aborted during the barrier: the lock is already released, fn must not run.
        signal.throwIfAborted();
        try {
          return await fn();
        } finally {
          // What fn published is in the ledger before the next tab gets the lock.
          await recorded();
        }
      }, signal);
    });
  } catch (error) {
    // Browsers that predate abort reasons reject an aborted request with a plain AbortError.
    if (waiting.signal.aborted && isAbortError(error)) throw waiting.signal.reason;
    throw error;
  } finally {
    stopWaiting();
  }
}

/**
 * The lock is held until the returned promise settles: when `fn` settles, or as soon as the caller
 * aborts (refresh timeout, destroy), so a refresh that ignores its signal cannot keep the other
 * tabs waiting.
 */
function holdWhile<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const release = () => reject(signal.reason);
    signal.addEventListener('abort', release, { once: true });
    new Promise<T>((run) => run(fn()))
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', release));
  });
}

/** Resolves once `work` settled, or after a second at most (an IndexedDB that hangs). */
const settled = (work: Promise<void>) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 1_000);
    work.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });

const invalid = (name: string, what: string, value: unknown) =>
  new RefreshGateError('INVALID_OPTIONS', expected(name, what, value));

const isAbortError = (error: unknown) =>
  typeof error === 'object' &&
  error !== null &&
  (error as { name?: unknown }).name === 'AbortError';
