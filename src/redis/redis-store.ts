import { randomUUID } from 'node:crypto';
import { isRefreshGateError, type TokenStore, type Tokens } from '../index.js';
import { readTokens } from '../token-shape.js';
import { connect, type RedisClient } from './connection.js';
import { type Fence, fence } from './fence.js';
import { checkClientAndKey } from './options.js';
import { sharedSubscriber } from './subscriber.js';

// The fenced write: the tokens land (and are announced) only while the lock holds this fencing
// value, or is free and nobody took it since (then it is taken back first; after a restart that
// lost every key, nobody can have).
const FENCED_SET = `
local gen = redis.call('GET', KEYS[4])
if ARGV[6] ~= '*' and gen and gen ~= ARGV[6] then return 2 end
local holder = redis.call('GET', KEYS[2])
if holder ~= ARGV[2] then
  local last = redis.call('GET', KEYS[3])
  if holder or (last and last ~= ARGV[2]) then return 0 end
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[5])
  redis.call('SET', KEYS[3], ARGV[2])
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;

// A plain write (no lock held) or a clear: the key is written before the change is announced.
// Each writes a new generation (KEYS[2]): a fenced write whose double-check read an older one is
// refused, so a refresh given up on (its write held in a queue, a partition) cannot land after
// a later word such as a logout. A logout leaves null in the key: a key that is missing was lost
// (a restart without persistence).
// The generation is a random value, not a counter: a counter starts again at 1 after Redis lost
// its keys, and a held write that read 1 before would match a logout's 1 since.
const SET = `redis.call('SET', KEYS[1], ARGV[1]) redis.call('SET', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[2], ARGV[3]) return 1`;
const CLEAR = `redis.call('SET', KEYS[1], 'null') redis.call('SET', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[1], ARGV[2]) return 1`;

/**
 * The tokens a refresh obtained exist only in this process until they are stored: while its lock
 * is held, Redis away for less than lockTtlMs (a restart, a failover) is waited out, as the
 * waiters elsewhere wait for them. A refused write (the lock is another's) is final. A write
 * waiting in the client's offline queue counts as unanswered once the time is up.
 */
async function retried(
  write: () => Promise<void>,
  held: Fence,
  late: () => Error,
  ready: () => boolean,
): Promise<void> {
  const since = Date.now();
  for (let wait = 20; ; wait = Math.min(wait * 2, 200)) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const left = held.ttl - (Date.now() - since);
    try {
      return await Promise.race([
        write(),
        new Promise<never>((_, reject) => {
          // Connected, the write is with Redis (paused, busy): waited for, as the lock is.
          const check = () => {
            if (ready()) timer = setTimeout(check, held.ttl);
            else reject(late());
          };
          timer = setTimeout(check, left);
        }),
      ]);
    } catch (error) {
      if (isRefreshGateError(error) || held.released || Date.now() - since >= held.ttl) throw error;
    } finally {
      clearTimeout(timer);
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * Options of {@link redisStore}.
 *
 * @example
 * ```ts
 * const store = redisStore({ client: redis, key: 'tokens:billing-api' });
 * ```
 */
export interface RedisStoreOptions {
  /** An ioredis client, or a connected node-redis (`redis`) client; it is used, never created or closed. */
  readonly client: RedisClient;
  /** The Redis key holding the tokens as JSON; changes are announced on channel `<key>:changed`. */
  readonly key: string;
}

/**
 * A token store shared by every process that uses the same Redis `key`: the tokens as JSON in
 * that key, changes announced on a channel. Asynchronous, so the gate keeps the last tokens it
 * read or heard and reads Redis again only under the refresh lock. A value that is not valid
 * tokens JSON (including an access token with whitespace or control characters, which could inject
 * a header) reads as `null` (the gate then refreshes), never as an exception; such a value heard on
 * the channel is ignored.
 *
 * The subscriber connection (`client.duplicate()`) opens with the first `subscribe` and closes
 * when the last listener unsubscribes (the gate does so on `destroy()`).
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { redisCoordinator, redisStore } from 'axios-refresh-gate/redis';
 *
 * const redis = new Redis(process.env.REDIS_URL);
 * const store = redisStore({ client: redis, key: 'tokens:billing-api' });
 * const gate = attachRefreshGate(api, {
 *   refresh,
 *   store,
 *   coordinator: redisCoordinator({ client: redis, key: 'tokens:billing-api' }),
 * });
 * ```
 */
export function redisStore(options: RedisStoreOptions): TokenStore {
  checkClientAndKey(options, 'redisStore');
  const { key } = options;
  const redis = connect(options.client);
  const channel = `${key}:changed`;
  const genKey = `${key}:gen`;
  /** The generation each holder's double-check read: a plain write since supersedes its result. */
  const read = new WeakMap<Fence, string>();
  const origin = randomUUID();
  const subscriber = sharedSubscriber(options.client, redis);

  const write = async (what: string, command: () => Promise<unknown>) => {
    const down = redis.down(what);
    if (down) throw down;
    try {
      await command();
    } catch (error) {
      if (isRefreshGateError(error)) throw error;
      throw redis.failed(what, error);
    }
  };
  const announce = (tokens: Tokens | null) => JSON.stringify({ from: origin, tokens });
  /** The tokens this store last read, wrote or heard of (null: a logout); undefined: none yet. */
  let last: Tokens | null | undefined;

  return {
    async get() {
      const what = `reading the tokens (key "${key}")`;
      const down = redis.down(what);
      if (down) throw down;
      let raw: string | null;
      const held = fence.getStore();
      try {
        // Under the lock, the generation first: a plain write landing in between is then newer.
        if (held && !held.released) read.set(held, (await redis.get(genKey)) ?? '');
        raw = await redis.get(key);
      } catch (error) {
        throw redis.failed(what, error);
      }
      // Missing, not null: Redis lost the key (restarted without persistence, or flushed). The
      // tokens this process knows are then the best word: without them the session would be lost
      // at the next expiry, though every process holds it. Never written, it is null.
      if (raw === null) return last ?? null;
      let tokens: Tokens | null = null;
      try {
        tokens = readTokens(JSON.parse(raw));
      } catch {}
      if (tokens !== null || raw === 'null') last = tokens;
      return tokens;
    },
    set(tokens) {
      const what = `storing the tokens (key "${key}")`;
      const held = fence.getStore();
      if (held && !held.released) {
        // Under a redisCoordinator's lock: written only while the lock is still this holder's,
        // so a holder that lost it (paused past lockTtlMs) never overwrites its successor's.
        const fenced = () =>
          write(what, async () => {
            const written = await redis.eval(
              FENCED_SET,
              [key, held.lockKey, held.holderKey, genKey],
              [
                JSON.stringify(tokens),
                held.id,
                channel,
                announce(tokens),
                held.ttl,
                read.get(held) ?? '*',
              ],
            );
            if (written !== 1) throw held.lost();
            last = tokens;
          });
        return retried(fenced, held, () => redis.failed(what, undefined), redis.ready);
      }
      return write(what, async () => {
        await redis.eval(
          SET,
          [key, genKey],
          [JSON.stringify(tokens), channel, announce(tokens), randomUUID()],
        );
        last = tokens;
      });
    },
    clear() {
      return write(`clearing the tokens (key "${key}")`, async () => {
        await redis.eval(CLEAR, [key, genKey], [channel, announce(null), randomUUID()]);
        last = null;
      });
    },
    subscribe(listener) {
      return subscriber.listen(channel, (message) => {
        let parsed: { from?: unknown; tokens?: unknown };
        try {
          parsed = JSON.parse(message) as typeof parsed;
        } catch {
          return;
        }
        // This store's own writes are not news to the gate that made them.
        if (typeof parsed !== 'object' || parsed === null || parsed.from === origin) return;
        // null is a logout; anything else that is not tokens (or could inject a header) is ignored.
        const tokens = parsed.tokens === null ? null : readTokens(parsed.tokens);
        if (tokens === null && parsed.tokens !== null) return;
        last = tokens;
        listener(tokens);
      });
    },
  };
}
