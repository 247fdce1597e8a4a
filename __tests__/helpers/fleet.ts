/**
 * A fleet for a jest file: a real redis-server, a test client on it, the example auth server
 * (rotating refresh tokens, reuse detection) started for each test, and worker processes
 * (examples/fleet/worker.ts) stopped after each test, even when it fails.
 *
 * @example
 * ```ts
 * const fleet = useFleet();
 * it('…', async () => {
 *   const key = fleet.key();
 *   fleet.workers.push(await startWorker(fleet.config(key, 'w1')));
 *   await fleet.seed(key);
 * });
 * ```
 */
import Redis from 'ioredis';
import type { FleetWorker } from '../../examples/fleet/fleet.js';
import type { WorkerConfig } from '../../examples/fleet/worker.js';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { login } from '../../examples/storm.js';
import type { Tokens } from '../../src/index.js';
import { redisStore } from '../../src/redis/index.js';
import {
  closeClient,
  type RedisServer,
  type RedisServerOptions,
  startRedisServer,
} from './redis-server.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

export interface Fleet {
  readonly redis: RedisServer;
  readonly client: Redis;
  readonly auth: AuthServer;
  /** Workers to stop after the test: push every one started. */
  workers: FleetWorker[];
  /** A new scope's key. */
  key(): string;
  /** Logs in, puts the tokens in the scope's Redis key, and makes the access token expired. */
  seed(key: string): Promise<Tokens>;
  config(key: string, name: string, overrides?: Partial<WorkerConfig>): WorkerConfig;
}

/** Registers the hooks of a fleet (per file, or per describe block) and returns it. */
export function useFleet(options: RedisServerOptions = {}): Fleet {
  let redis: RedisServer | undefined;
  let client: Redis | undefined;
  let auth: AuthServer | undefined;
  let scopes = 0;
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the fleet's ${what} is not started`);
    return value;
  };

  const fleet: Fleet = {
    get redis() {
      return need(redis, 'redis-server');
    },
    get client() {
      return need(client, 'Redis client');
    },
    get auth() {
      return need(auth, 'auth server');
    },
    workers: [],
    key: () => `fleet:${++scopes}`,
    async seed(key) {
      const tokens = await login(fleet.auth.url);
      await redisStore({ client: fleet.client, key }).set(tokens);
      fleet.auth.expireAll();
      fleet.auth.resetStats();
      return tokens;
    },
    config: (key, name, overrides = {}) => ({
      name,
      authUrl: fleet.auth.url,
      redisPort: fleet.redis.port,
      key,
      requests: 250,
      lockTtlMs: 5_000,
      refreshTimeoutMs: 10_000,
      queueTimeoutMs: 30_000,
      ...overrides,
    }),
  };

  beforeAll(async () => {
    redis = await startRedisServer(options);
    client = new Redis(redis.port, '127.0.0.1', { disconnectTimeout: 200 });
    client.on('error', () => {});
  });
  afterAll(async () => {
    if (client) await closeClient(client);
    await redis?.close();
  });
  beforeEach(async () => {
    auth = await startAuthServer({ port: 0 });
  });
  afterEach(async () => {
    await Promise.all(fleet.workers.map((worker) => worker.stop()));
    fleet.workers = [];
    await auth?.close();
  });
  return fleet;
}
