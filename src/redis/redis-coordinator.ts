import { randomUUID } from 'node:crypto';
import { type Coordinator, type HeldLock, RefreshGateError, type Tokens } from '../index.js';
import { readTokens } from '../token-shape.js';
import { connect, type RedisClient } from './connection.js';
import { type Fence, fence } from './fence.js';
import { checkClientAndKey, invalid } from './options.js';
import { ignore, sharedSubscriber } from './subscriber.js';

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
  readonly lockTtlMs?: number | undefined;
}

const DEFAULT_LOCK_TTL_MS = 5_000;
/**
 * Waiters poll at most this far apart (and at most lockTtlMs / 4 apart, so that their polls keep
 * the scope's liveness record gapless); a release wakes them earlier, through the channel.
 */
const MAX_POLL_MS = 250;
const MIN_POLL_MS = 10;
/**
 * A waiter that stopped polling this long ago (its process died) loses its place in the queue.
 * Far above MAX_POLL_MS, so that a busy event loop does not drop a live waiter.
 */
const WAITER_TTL_MS = 5_000;

/** What `<key>:holder` holds once its last holder let the lock go (and the channel's wake-up). */
const RELEASED = 'released';

// Every script that a member of the scope runs while it waits or holds keeps `<key>:live`: since
// when Redis has served the scope without a gap longer than lockTtlMs / 2 (s), and when last (t).
// A gap means nobody could renew (Redis paused with CLIENT PAUSE, restarted, or the scope idle).
const LIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gap = tonumber(ARGV[2]) / 2
local tick = tonumber(redis.call('HGET', KEYS[6], 't'))
local since = tonumber(redis.call('HGET', KEYS[6], 's'))
-- A gap, a record that is not numbers, or one from the future (Redis' clock stepped back, a
-- replica's clock behind): counted from now.
if not tick or not since or now - tick > gap or tick > now or since > now then
  since = now
  redis.call('HSET', KEYS[6], 's', now)
end
redis.call('HSET', KEYS[6], 't', now)
redis.call('PEXPIRE', KEYS[6], 86400000)
`;

// A FIFO lock. Waiters take a ticket (INCR) and queue in a sorted set; only the head may take the
// lock, with SET NX PX and its own fencing value. Every call renews the caller's liveness
// deadline; waiters whose deadline passed (dead processes) are dropped, so they cannot block the
// queue. TIME is read inside the script, so that clocks of different hosts do not matter.
// A lock its holder did not let go (it expired or was deleted, or Redis lost every key and this
// member knew the scope before, ARGV[4]) is taken over only once the holder's lease (l: when its
// last renewal runs out) is over, and Redis has served the scope for lockTtlMs / 2 without a gap.
// So a holder that is alive renews and keeps its lock: one whose key was deleted (its lease runs
// on), and one kept from Redis (a CLIENT PAUSE, a restart), which renews within lockTtlMs / 3 of
// Redis serving again.
const ACQUIRE = `${LIVE}
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
local last = redis.call('GET', KEYS[5])
-- Waiting: 2 tells the member that the scope has a holder record (it knows the scope now).
local wait = last and 2 or 0
if head ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 1 then return wait end
if last ~= '${RELEASED}' and (last or ARGV[4] == '1') then
  local lease = tonumber(redis.call('HGET', KEYS[6], 'l')) or 0
  -- A lease further ahead than any lease is long (d, or ours) is from another clock: over.
  local span = math.max(tonumber(redis.call('HGET', KEYS[6], 'd')) or 0, tonumber(ARGV[2]))
  if lease - now > span then lease = 0 end
  if now < lease or now - since < gap then return wait end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[5], ARGV[1])
redis.call('HSET', KEYS[6], 'l', now + tonumber(ARGV[2]), 'd', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`;

// Only the owner (same fencing value) lets the lock go: one whose lock expired and was taken by
// another process must not release that other process's lock.
const RELEASE = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or (not holder and redis.call('GET', KEYS[2]) == ARGV[1]) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '${RELEASED}')
  redis.call('PUBLISH', ARGV[2], '${RELEASED}')
  return 1
end
return 0
`;

// The holder keeps its lock: extends it while it holds this fencing value, and takes it back if
// the key is gone (deleted, expired, or Redis restarted empty) and nobody took the lock since
// (KEYS[5] names the last holder; gone too after a restart). Anyone else took it: it is lost,
// even if they released it already.
const RENEW = `${LIVE}
local holder = redis.call('GET', KEYS[1])
local last = redis.call('GET', KEYS[5])
if holder ~= ARGV[1] and (holder or (last and last ~= ARGV[1])) then return 0 end
redis.call('SET', KEYS[5], ARGV[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[6], 'l', now + tonumber(ARGV[2]), 'd', ARGV[2])
return 1
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
  const keys = [lockKey, ...queueKeys, `${key}:seq`, holderKey, `${key}:live`];
  const pollMax = Math.min(MAX_POLL_MS, ttl / 4);
  /**
   * Whether this member has seen the scope's holder record (or taken the lock), or seen its client
   * lose its connection and make it again: then a scope without keys may have lost them (a
   * restart), with a live holder about to take its lock back.
   */
  let known = false;
  const stopWatching = redis.onReconnect(() => {
    known = true;
  });
  const channel = `${key}:events`;
  const member = randomUUID();
  let calls = 0;
  let disposed = false;

  const subscriber = sharedSubscriber(options.client, redis);
  let stopListening: (() => void) | undefined;
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
    stopListening = subscriber.listen(channel, onMessage);
  };

  const release = (id: string) => {
    redis.eval(RELEASE, [lockKey, holderKey], [id, channel]).catch(ignore);
  };

  const acquire = (signal: AbortSignal, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const id = `${member}:${++calls}`;
      let done = false;
      let inFlight = false;
      let again = false;
      let pollMs = MIN_POLL_MS;
      /** Since when Redis has been unreachable, while this waiter waits. */
      let outage: number | undefined;
      let poll: ReturnType<typeof setTimeout> | undefined;
      /** Checks an attempt unanswered for lockTtlMs. */
      let stuck: ReturnType<typeof setTimeout> | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;

      const cleanup = () => {
        done = true;
        clearTimeout(poll);
        clearTimeout(timer);
        clearTimeout(stuck);
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
      const later = () => {
        poll = setTimeout(attempt, pollMs);
        pollMs = Math.min(pollMs * 2, pollMax);
      };
      // Redis away for less than lockTtlMs (a restart, a failover) is waited out, as a holder
      // is given lockTtlMs to renew; longer, the refresh fails with the reason.
      const unreachable = (error: Error, leave: boolean) => {
        outage ??= Date.now();
        if (Date.now() - outage >= ttl) giveUp(error, leave);
        else later();
      };

      function attempt(): void {
        if (done) return;
        if (inFlight) {
          again = true;
          return;
        }
        const down = redis.down('taking the refresh lock');
        if (down) {
          unreachable(down, false);
          return;
        }
        inFlight = true;
        clearTimeout(poll);
        // Unanswered for lockTtlMs while the client reconnects: the command waits in its offline
        // queue, Redis is away. Connected, it is with Redis (a CLIENT PAUSE): wait on.
        const check = () => {
          if (redis.ready()) stuck = setTimeout(check, ttl);
          else giveUp(redis.failed('taking the refresh lock', undefined), true);
        };
        stuck = setTimeout(check, ttl);
        redis.eval(ACQUIRE, keys, [id, ttl, WAITER_TTL_MS, known ? 1 : 0]).then(
          (won) => {
            inFlight = false;
            clearTimeout(stuck);
            if (won !== 0) known = true;
            outage = undefined;
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
            later();
          },
          (error: unknown) => {
            inFlight = false;
            clearTimeout(stuck);
            if (!done) unreachable(redis.failed('taking the refresh lock', error), true);
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
      let confirmed = false;
      const renew = () =>
        redis.eval(RENEW, keys, [id, ttl]).then(
          (held) => {
            if (held === 1) renewedAt = Date.now();
            else lose();
            return held === 1;
          },
          () => {
            // Unanswered past the lock's life: this process may be cut off from a Redis that
            // serves the others, who take the lock over. Before the refresh call, give it up; once
            // the call went out, giving up undoes nothing: the result is stored if the lock is
            // still ours when Redis answers again (Redis restarted or paused: nobody took it).
            if (!confirmed && Date.now() - renewedAt >= ttl) lose();
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
          confirmed = true;
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
      stopWatching();
      listeners.clear();
      stopListening?.();
    },
  };
}
