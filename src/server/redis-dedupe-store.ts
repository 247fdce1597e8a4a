import { randomUUID } from 'node:crypto';
import { checkClient, connect, type RedisClient } from '../redis/connection.js';
import { sharedSubscriber } from '../redis/subscriber.js';
import type { DedupeClaim, DedupeStore } from './dedupe-store.js';
import { invalid } from './refresh-deduper.js';
import { watchers } from './watchers.js';

/**
 * Options of {@link redisDedupeStore}.
 *
 * @example
 * ```ts
 * redisDedupeStore({ client: redis, prefix: 'auth:refresh-dedupe:' });
 * ```
 */
export interface RedisDedupeStoreOptions {
  /**
   * An ioredis client, or a connected node-redis (`redis`) client; it is used, never created or
   * closed. A subscriber is made with `client.duplicate()`.
   */
  readonly client: RedisClient;
  /** Prefix of the keys (`<prefix><sha256>`) and of the channel (`<prefix>settled`). @default 'refresh-dedupe:' */
  readonly prefix?: string | undefined;
}

// Claim with SET NX PX, atomically with reading what is there when the claim fails.
const CLAIM = `local c=redis.call('GET',KEYS[1]) if c then return c end
redis.call('SET',KEYS[1],ARGV[1],'PX',ARGV[2]) return false`;

// Every write that names a claim is fenced: it does nothing unless the key still holds the
// claim's token (not expired, abandoned, or taken by another caller since).
const HELD = `redis.call('GET',KEYS[1])==ARGV[1]`;

const RENEW = `if ${HELD} then return redis.call('PEXPIRE',KEYS[1],ARGV[2]) end return 0`;

const FULFIL = `if not (${HELD}) then return 0 end
if ARGV[3]=='0' then redis.call('DEL',KEYS[1]) else redis.call('SET',KEYS[1],ARGV[2],'PX',ARGV[3]) end
redis.call('PUBLISH',ARGV[4],ARGV[5]) return 1`;

const ABANDON = `if ${HELD} then redis.call('DEL',KEYS[1]) end
redis.call('PUBLISH',ARGV[2],ARGV[3]) return 0`;

/**
 * A {@link DedupeStore} on Redis, so that several instances of an auth server behave as one: a
 * claim is `SET NX PX` on `<prefix><sha256 of the key>`, renewed (`PEXPIRE`), fulfilled and
 * dropped by Lua scripts that first check the claim's token (so a claim whose lease ended writes
 * nothing), the result is kept there as JSON for `graceMs`, and waiters on any instance are woken
 * through channel `<prefix>settled` (and poll as a fallback). Results must be JSON-serializable.
 * The new token pair is what is kept: protect the Redis as you protect the token database.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { createRefreshDeduper, redisDedupeStore } from 'axios-refresh-gate/server';
 *
 * const deduper = createRefreshDeduper({ store: redisDedupeStore({ client: new Redis(process.env.REDIS_URL) }) });
 * ```
 */
export function redisDedupeStore(options: RedisDedupeStoreOptions): DedupeStore {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'an object { client, prefix? }', options);
  }
  const { client, prefix = 'refresh-dedupe:' } = options;
  checkClient(client, invalid);
  if (typeof prefix !== 'string') {
    throw invalid('prefix', 'a string', prefix);
  }
  const channel = `${prefix}settled`;
  const redis = connect(client);
  const subscriber = sharedSubscriber(client, redis);
  let stopListening: (() => void) | undefined;
  const { watch, notify, clear } = watchers();
  let listening = false;
  const pending = (token: string) => JSON.stringify({ s: 'pending', t: token });

  const store: DedupeStore = {
    async claim(hash, leaseMs) {
      const key = prefix + hash;
      for (let attempt = 0; ; attempt++) {
        const token = randomUUID();
        const current = (await redis.eval(CLAIM, [key], [pending(token), leaseMs])) as
          | string
          | null;
        if (current === null) return { state: 'claimed', token };
        let parsed: { s?: unknown; v?: unknown } | undefined;
        try {
          parsed = JSON.parse(current) as typeof parsed;
        } catch {}
        if (parsed?.s === 'done') return { state: 'done', value: parsed.v } as DedupeClaim;
        if (parsed?.s === 'pending') return { state: 'busy' };
        // Not ours (corrupted, or another program's key): drop it once and claim again.
        if (attempt > 0) return { state: 'busy' };
        await redis.eval(ABANDON, [key], [current, channel, hash]);
      }
    },
    async renew(hash, token, leaseMs) {
      return (await redis.eval(RENEW, [prefix + hash], [pending(token), leaseMs])) === 1;
    },
    async fulfil(hash, token, value, graceMs) {
      const done = JSON.stringify({ s: 'done', v: value });
      await redis.eval(FULFIL, [prefix + hash], [pending(token), done, graceMs, channel, hash]);
    },
    async abandon(hash, token) {
      await redis.eval(ABANDON, [prefix + hash], [pending(token), channel, hash]);
    },
    watch(hash, onChange) {
      if (!listening) {
        listening = true;
        stopListening = subscriber.listen(channel, notify);
      }
      return watch(hash, onChange);
    },
    dispose() {
      clear();
      listening = false;
      stopListening?.();
      stopListening = undefined;
    },
  };
  return store;
}
