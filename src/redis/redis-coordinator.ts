import { randomUUID } from 'node:crypto';
import { type Coordinator, type HeldLock, RefreshGateError, type Tokens } from '../index.js';
import { readTokens } from '../token-shape.js';
import { connect, type RedisClient } from './connection.js';
import { type Fence, fence } from './fence.js';
import { checkClientAndKey, invalid } from './options.js';
import { ignore, Subscriber } from './subscriber.js';

/**
 * Options of {@link redisCoordinator}.
 *
 * @example
 * ```ts
 * const coordinator = redisCoordinator({ client: redis, key: 'tokens:billing-api', lockTtlMs: 5_000 });
 * ```
 */
export interface RedisCoordinatorOptions {
  /**
   * An ioredis client, or a connected node-redis (`redis`) client; it is used, never created or
   * closed. A subscriber connection is made from it with `client.duplicate()`.
   */
  readonly client: RedisClient;
  /**
   * Names the scope: every process using the same key refreshes one at a time. Used as a prefix
   * (`<key>:lock`, `<key>:holder`, `<key>:queue`, `<key>:alive`, `<key>:seq`, channel
   * `<key>:events`); in a Redis Cluster, put the key's name in braces so all share a hash slot.
   */
  readonly key: string;
  /**
   * How long the lock outlives a holder that died (crash, SIGKILL, lost network). A live holder
   * renews it every `lockTtlMs / 3` while its refresh runs, so a refresh may take longer; keep it
   * below the gates' `refreshTimeoutMs`, so that waiters can take over from a dead holder before
   * they give up themselves. @default 5_000
   */
  readonly lockTtlMs?: number;
}

const DEFAULT_LOCK_TTL_MS = 5_000;
/** Waiters poll at most this far apart; a release wakes them earlier, through the channel. */
const MAX_POLL_MS = 250;
const MIN_POLL_MS = 10;
/**
 * A waiter that stopped polling this long ago (its process died) loses its place in the queue.
 * Far above MAX_POLL_MS, so that a busy event loop does not drop a live waiter.
 */
const WAITER_TTL_MS = 5_000;

const RELEASED = 'released';

// A FIFO lock. Waiters take a ticket (INCR) and queue in a sorted set; only the head may take the
// lock, with SET NX PX and its own fencing value. Every call renews the caller's liveness
// deadline; waiters whose deadline passed (dead processes) are dropped, so they cannot block the
// queue. TIME is read inside the script, so that clocks of different hosts do not matter.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, member in ipairs(dead) do
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZREM', KEYS[3], member)
end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1])
  redis.call('PEXPIRE', KEYS[4], 86400000)
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) * 2)
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[3]) * 2)
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if head == ARGV[1] and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[5], ARGV[1], 'PX', 86400000)
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 1
end
return 0
`;

// Only the owner (same fencing value) deletes the lock: one whose lock expired and was taken by
// another process must not release that other process's lock.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], '${RELEASED}')
  return 1
end
return 0
`;

// The holder keeps its lock: extends it while it holds this fencing value, and takes it back if
// the key is gone (deleted, expired, or Redis restarted empty) and nobody took the lock since
// (KEYS[2] names the last holder; gone too after a restart). Anyone else took it: it is lost,
// even if they released it already.
const RENEW = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local last = redis.call('GET', KEYS[2])
if not holder and (not last or last == ARGV[1]) then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', 86400000)
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

const PUBLISH = `return redis.call('PUBLISH', ARGV[1], ARGV[2])`;

// A waiter that gives up leaves the queue; if it was at the head, the next one is told.
const LEAVE = `
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if head == ARGV[1] then
  redis.call('PUBLISH', ARGV[2], '${RELEASED}')
end
return 0
`;

/**
 * Makes one refresh run at a time across every process that shares a Redis `key` (a PM2 cluster,
 * the pods of a deployment), for gates whose tokens live in a shared store such as
 * {@link redisStore}. The lock is `SET NX PX` with a unique fencing value, taken in FIFO order,
 * renewed while the refresh runs and released only by its owner; waiters are woken through a
 * channel (and poll as a fallback), and the gate re-reads the store once it holds the lock, so a
 * process that waited adopts the tokens the first one obtained instead of refreshing again.
 *
 * A holder that dies stops renewing: the lock expires after `lockTtlMs` and the next waiter goes
 * on. A Redis that is down fails the refresh at once with a `RedisUnavailableError` that says so;
 * every wait is bounded by the gate's `refreshTimeoutMs` and its abort signal. Call `dispose()`
 * when done (it closes the subscriber connection; the client itself is yours).
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { redisCoordinator, redisStore } from 'axios-refresh-gate/redis';
 *
 * const redis = new Redis(process.env.REDIS_URL);
 * const gate = attachRefreshGate(api, {
 *   refresh: ({ tokens, signal }) => refreshTokens(tokens?.refreshToken, signal),
 *   store: redisStore({ client: redis, key: 'tokens:billing-api' }),
 *   coordinator: redisCoordinator({ client: redis, key: 'tokens:billing-api' }),
 * });
 * ```
 */
export function redisCoordinator(options: RedisCoordinatorOptions): Coordinator {
  checkClientAndKey(options, 'redisCoordinator');
  const { key, lockTtlMs = DEFAULT_LOCK_TTL_MS } = options;
  const redis = connect(options.client);
  if (typeof lockTtlMs !== 'number' || !Number.isFinite(lockTtlMs) || lockTtlMs < 100) {
    throw invalid('lockTtlMs', 'a finite number >= 100', lockTtlMs);
  }
  const ttl = Math.round(lockTtlMs);
  const lockKey = `${key}:lock`;
  /** The last process that took the lock: a holder whose key expired may take it back only if it is still itself. */
  const holderKey = `${key}:holder`;
  const queueKeys = [`${key}:queue`, `${key}:alive`] as const;
  const channel = `${key}:events`;
  const member = randomUUID();
  let calls = 0;
  let disposed = false;

  const subscriber = new Subscriber(redis, false);
  const listeners = new Set<(tokens: Tokens | null) => void>();
  const wakers = new Set<() => void>();
  let listening = false;

  const onMessage = (message: string) => {
    if (message === RELEASED) {
      for (const wake of [...wakers]) wake();
      return;
    }
    let parsed: { from?: unknown; tokens?: unknown };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      return;
    }
    // Our own publishes were delivered to our listeners at once; hearing them late from Redis
    // could put back tokens older than ones obtained since.
    if (typeof parsed !== 'object' || parsed === null || parsed.from === member) return;
    // null is a logout; anything else that is not tokens (or could inject a header) is ignored.
    const tokens = parsed.tokens === null ? null : readTokens(parsed.tokens);
    if (tokens === null && parsed.tokens !== null) return;
    for (const listener of [...listeners]) listener(tokens);
  };

  const listen = () => {
    if (listening || disposed) return;
    listening = true;
    subscriber.listen(channel, onMessage);
  };

  const release = (id: string) => {
    redis.eval(RELEASE, [lockKey], [id, channel]).catch(ignore);
  };

  const acquire = (signal: AbortSignal, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const id = `${member}:${++calls}`;
      let done = false;
      let inFlight = false;
      let again = false;
      let pollMs = MIN_POLL_MS;
      let poll: ReturnType<typeof setTimeout> | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;

      const cleanup = () => {
        done = true;
        clearTimeout(poll);
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        wakers.delete(attempt);
      };
      const giveUp = (error: unknown, leave: boolean) => {
        if (done) return;
        cleanup();
        // Sent on the same connection after any attempt in flight, so Redis runs it after that.
        if (leave) redis.eval(LEAVE, queueKeys, [id, channel]).catch(ignore);
        reject(error);
      };
      const onAbort = () => giveUp(signal.reason, true);

      function attempt(): void {
        if (done) return;
        if (inFlight) {
          again = true;
          return;
        }
        const down = redis.down('taking the refresh lock');
        if (down) {
          giveUp(down, false);
          return;
        }
        inFlight = true;
        clearTimeout(poll);
        redis
          .eval(ACQUIRE, [lockKey, ...queueKeys, `${key}:seq`, holderKey], [id, ttl, WAITER_TTL_MS])
          .then(
            (won) => {
              inFlight = false;
              if (won === 1) {
                // Granted after the caller gave up: hand the lock straight back.
                if (done) return release(id);
                cleanup();
                return resolve(id);
              }
              if (done) return;
              if (again) {
                again = false;
                return attempt();
              }
              poll = setTimeout(attempt, pollMs);
              pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
            },
            (error: unknown) => {
              inFlight = false;
              giveUp(redis.failed('taking the refresh lock', error), true);
            },
          );
      }

      signal.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs > 0) {
        timer = setTimeout(
          () =>
            giveUp(
              new RefreshGateError(
                'REFRESH_TIMEOUT',
                `the refresh lock (Redis key "${lockKey}") was not acquired within ${timeoutMs} ms (refreshTimeoutMs)`,
              ),
              true,
            ),
          timeoutMs,
        );
      }
      wakers.add(attempt);
      listen();
      attempt();
    });

  return {
    async runExclusive(fn, { signal, timeoutMs }) {
      signal.throwIfAborted();
      if (disposed) {
        throw new RefreshGateError(
          'DESTROYED',
          `this redisCoordinator (key "${key}") was disposed of; make a new one to refresh again`,
        );
      }
      const id = await acquire(signal, timeoutMs);
      // The lock can be lost while fn runs: its key expired (this process was paused past
      // lockTtlMs, a GC pause, a stopped container) or was deleted. Then fn is told at once, its
      // refresh is aborted, and its store writes (fenced) are refused.
      const lost = new AbortController();
      const lose = (): unknown => {
        if (!lost.signal.aborted) {
          lost.abort(
            new RefreshGateError(
              'LOCK_LOST',
              `the refresh lock (Redis key "${lockKey}") is no longer this process's: it expired or was deleted while the refresh ran; the refresh was aborted and its tokens are not stored`,
            ),
          );
        }
        return lost.signal.reason;
      };
      let renewedAt = Date.now();
      const renew = () =>
        redis.eval(RENEW, [lockKey, holderKey], [id, ttl]).then(
          (held) => {
            if (held === 1) renewedAt = Date.now();
            else lose();
            return held === 1;
          },
          () => {
            // Unanswered: past its TTL since the last renewal, the key is gone by Redis' clock.
            if (Date.now() - renewedAt >= ttl) lose();
            return false;
          },
        );
      // Renew while fn runs: only a holder that stopped (died) lets its lock expire.
      const renewal = setInterval(renew, ttl / 3);
      renewal.unref?.();
      const lock: HeldLock = {
        signal: lost.signal,
        confirm: async () => {
          if (!(await renew())) throw lose();
        },
      };
      // Release when fn settles or the caller gives up (timeout, destroy), whichever is first: a
      // refresh that ignores its signal must not keep the other processes waiting.
      const held: Fence = { lockKey, holderKey, id, ttl, lost: lose, released: false };
      const releaseOnce = () => {
        if (held.released) return;
        held.released = true;
        clearInterval(renewal);
        signal.removeEventListener('abort', releaseOnce);
        release(id);
      };
      signal.addEventListener('abort', releaseOnce, { once: true });
      try {
        return await new Promise((resolve, reject) => {
          lost.signal.addEventListener('abort', () => reject(lost.signal.reason), { once: true });
          fence.run(held, () => fn(lock)).then(resolve, reject);
        });
      } finally {
        releaseOnce();
      }
    },
    publish(tokens) {
      // Gates sharing this coordinator hear each other at once, as with the in-process one.
      for (const listener of [...listeners]) listener(tokens);
      if (disposed || redis.down('publishing tokens')) return;
      redis.eval(PUBLISH, [], [channel, JSON.stringify({ from: member, tokens })]).catch(ignore);
    },
    subscribe(listener) {
      listeners.add(listener);
      listen();
      return () => {
        listeners.delete(listener);
      };
    },
    dispose() {
      disposed = true;
      listeners.clear();
      subscriber.close();
    },
  };
}
