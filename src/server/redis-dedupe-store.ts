import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { expected } from '../format.js';
import { RefreshGateError } from '../index.js';
import { Subscriber } from '../redis/subscriber.js';
import type { DedupeClaim, DedupeStore } from './dedupe-store.js';

/**
 * Options of {@link redisDedupeStore}.
 *
 * @example
 * ```ts
 * redisDedupeStore({ client: redis, prefix: 'auth:refresh-dedupe:' });
 * ```
 */
export interface RedisDedupeStoreOptions {
  /** An ioredis client; it is used, never created or closed. A subscriber is made with `client.duplicate()`. */
  readonly client: Redis;
  /** Prefix of the keys (`<prefix><sha256>`) and of the channel (`<prefix>settled`). @default 'refresh-dedupe:' */
  readonly prefix?: string;
}

// Claim with SET NX PX, atomically with reading what is there when the claim fails.
const CLAIM = `
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`;

// Only the claim's owner stores the result; a claim that expired may be taken by another caller.
const FULFIL = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

const ABANDON = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 0
`;

const DELETE_IF = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`;

const invalid = (name: string, what: string, value: unknown) =>
  new RefreshGateError('INVALID_OPTIONS', expected(name, what, value));

/**
 * A {@link DedupeStore} on Redis, so that several instances of an auth server behave as one: a
 * claim is `SET NX PX` on `<prefix><sha256 of the key>`, the result is kept there as JSON for
 * `graceMs`, and waiters on any instance are woken through channel `<prefix>settled` (and poll as
 * a fallback). Results must be JSON-serializable. The new token pair is what is kept: protect the
 * Redis as you protect the token database.
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
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client.eval !== 'function' ||
    typeof client.duplicate !== 'function'
  ) {
    throw invalid('client', 'an ioredis client', client);
  }
  if (typeof prefix !== 'string') {
    throw invalid('prefix', 'a string', prefix);
  }
  const channel = `${prefix}settled`;
  const subscriber = new Subscriber(client, false);
  const watchers = new Map<string, Set<() => void>>();
  let listening = false;
  const pending = (token: string) => JSON.stringify({ s: 'pending', t: token });

  const store: DedupeStore = {
    async claim(hash, leaseMs) {
      const key = prefix + hash;
      for (let attempt = 0; ; attempt++) {
        const token = randomUUID();
        const current = (await client.eval(CLAIM, 1, key, pending(token), leaseMs)) as
          | string
          | null;
        if (current === null) return { state: 'claimed', token };
        let parsed: { s?: unknown; v?: unknown } | undefined;
        try {
          parsed = JSON.parse(current) as typeof parsed;
        } catch {
          parsed = undefined;
        }
        if (parsed?.s === 'done') return { state: 'done', value: parsed.v } as DedupeClaim;
        if (parsed?.s === 'pending') return { state: 'busy' };
        // Not ours (corrupted, or another program's key): drop it once and claim again.
        if (attempt > 0) return { state: 'busy' };
        await client.eval(DELETE_IF, 1, key, current);
      }
    },
    async fulfil(hash, token, value, graceMs) {
      const done = JSON.stringify({ s: 'done', v: value });
      await client.eval(FULFIL, 1, prefix + hash, pending(token), done, graceMs, channel, hash);
    },
    async abandon(hash, token) {
      await client.eval(ABANDON, 1, prefix + hash, pending(token), channel, hash);
    },
    watch(hash, onChange) {
      if (!listening) {
        listening = true;
        subscriber.listen(channel, (message) => {
          for (const wake of [...(watchers.get(message) ?? [])]) wake();
        });
      }
      let set = watchers.get(hash);
      if (!set) {
        set = new Set();
        watchers.set(hash, set);
      }
      set.add(onChange);
      const own = set;
      return () => {
        own.delete(onChange);
        if (own.size === 0 && watchers.get(hash) === own) watchers.delete(hash);
      };
    },
    dispose() {
      watchers.clear();
      listening = false;
      subscriber.close();
    },
  };
  return store;
}
