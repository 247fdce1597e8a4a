/**
 * The Redis clients the Redis suites run on, so that each suite proves the same behaviour on every
 * client the adapters support: ioredis 5, node-redis 6 (`redis`) and node-redis 4 (`redis4`, an
 * npm alias of `redis@4`). Each kind connects a ready client to a server of `startRedisServer()`,
 * closes it for good (whatever state it is in), and gives the few raw commands the tests check
 * Redis with, the same for every client.
 *
 * @example
 * ```ts
 * describe.each(clientKinds)('on $name', (kind) => {
 *   const clients = clientPool(kind);
 *   afterAll(() => clients.closeAll());
 *   it('stores the tokens', async () => {
 *     const client = await clients.connect(server);
 *     await redisStore({ client, key: 'k' }).set({ accessToken: 'a' });
 *     expect(await kind.raw(client).get('k')).toBe('{"accessToken":"a"}');
 *   });
 * });
 * ```
 */
import Redis, { type RedisOptions } from 'ioredis';
import { createClient } from 'redis';
import { createClient as createClient4 } from 'redis4';
import type { RedisCoordinatorOptions } from '../../src/redis/index.js';
import { closeClient, type RedisServer } from './redis-server.js';

/** A client as the adapters take it. */
export type Client = RedisCoordinatorOptions['client'];

/** Raw commands for the tests' own checks, with the replies Redis sends (RESP2 and RESP3 alike). */
export interface RawCommands {
  sendCommand(args: readonly string[]): Promise<unknown>;
  get(key: string): Promise<string | null>;
  /** SET, with an expiry in ms when `pxMs` is given. */
  set(key: string, value: string, pxMs?: number): Promise<unknown>;
  del(...keys: string[]): Promise<number>;
  exists(...keys: string[]): Promise<number>;
  pttl(key: string): Promise<number>;
  keys(pattern: string): Promise<string[]>;
  publish(channel: string, message: string): Promise<number>;
  /** How many connections are subscribed to `channel` (PUBSUB NUMSUB). */
  numsub(channel: string): Promise<number>;
  /** How many connections the server has (CLIENT LIST), this one included. */
  connections(): Promise<number>;
  ping(): Promise<unknown>;
  flushall(): Promise<unknown>;
}

export interface ClientKind {
  readonly name: 'ioredis' | 'node-redis 6' | 'node-redis 4';
  /** The library, as the adapters' errors name it. */
  readonly library: 'ioredis' | 'node-redis';
  /** Options of `make`/`connect` that disable the offline queue (a command fails while not ready). */
  readonly withoutOfflineQueue: object;
  /** Options of `make`/`connect` that wait 1 s between reconnect attempts. */
  readonly slowReconnect: object;
  /**
   * A client that starts connecting to `url` and is returned at once (not yet ready); it ignores
   * its 'error' events. `options` are the library's own (e.g. `{ disableOfflineQueue: true }`).
   */
  make(url: string, options?: object): Client;
  /** A client of `server`, once it is ready (at most 5 s). */
  connect(server: RedisServer, options?: object): Promise<Client>;
  /** Closes `client` for good, whatever its state (ready, reconnecting, closed); never hangs. */
  close(client: Client): Promise<void>;
  /** Whether the client can run a command now. */
  ready(client: Client): boolean;
  /** Whether it lost its connection (or never had one) and is waiting to try again. */
  reconnecting(client: Client): boolean;
  raw(client: Client): RawCommands;
}

const ignore = (): void => {};

/** Resolves with `promise`, or rejects after `ms` saying `what` did not happen. */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function rawCommands(send: (args: string[]) => Promise<unknown>): RawCommands {
  return {
    sendCommand: (args) => send([...args]),
    get: (key) => send(['GET', key]) as Promise<string | null>,
    set: (key, value, pxMs) =>
      send(pxMs === undefined ? ['SET', key, value] : ['SET', key, value, 'PX', String(pxMs)]),
    del: (...keys) => send(['DEL', ...keys]) as Promise<number>,
    exists: (...keys) => send(['EXISTS', ...keys]) as Promise<number>,
    pttl: (key) => send(['PTTL', key]) as Promise<number>,
    keys: (pattern) => send(['KEYS', pattern]) as Promise<string[]>,
    publish: (channel, message) => send(['PUBLISH', channel, message]) as Promise<number>,
    numsub: async (channel) => {
      const reply = (await send(['PUBSUB', 'NUMSUB', channel])) as unknown[];
      return Number(reply[1]);
    },
    connections: async () => {
      const list = String(await send(['CLIENT', 'LIST']));
      return list.split('\n').filter((line) => line.trim() !== '').length;
    },
    ping: () => send(['PING']),
    flushall: () => send(['FLUSHALL']),
  };
}

/** The members of node-redis 4 and 6 clients the helpers use. */
interface NodeRedis {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  sendCommand(args: string[]): Promise<unknown>;
  close?(): Promise<unknown>;
  destroy?(): void;
  quit?(): Promise<unknown>;
  disconnect?(): Promise<unknown>;
}

// One `Client` type for the three libraries in the suites; each kind narrows it back. (That real
// clients fit the adapters' `client` option as they come is __tests__/types/redis-clients.test-d.ts.)
const asClient = (client: NodeRedis): Client => client as unknown as Client;
const asNodeRedis = (client: Client): NodeRedis => client as unknown as NodeRedis;
const asIoredis = (client: Client): Redis => client as unknown as Redis;

function nodeRedisKind(
  name: 'node-redis 6' | 'node-redis 4',
  create: (options: object) => NodeRedis,
): ClientKind {
  const kind: ClientKind = {
    name,
    library: 'node-redis',
    withoutOfflineQueue: { disableOfflineQueue: true },
    slowReconnect: { socket: { reconnectStrategy: () => 1_000 } },
    make(url, options = {}) {
      const client = create({ url, ...options });
      client.on('error', ignore);
      client.connect().catch(ignore);
      return asClient(client);
    },
    async connect(server, options) {
      const client = kind.make(server.url, options);
      try {
        await waitFor(() => asNodeRedis(client).isReady, `${name} ready`);
      } catch (error) {
        await kind.close(client);
        throw error;
      }
      return client;
    },
    async close(client) {
      const redis = asNodeRedis(client);
      // Closed while its socket is being made, node-redis (4 and 6) still opens it afterwards and
      // keeps it: let a connection in progress finish first (a reachable server answers in ms).
      if (redis.isOpen && !redis.isReady) {
        await waitFor(() => redis.isReady || !redis.isOpen, 'ready', 200).catch(ignore);
      }
      // node-redis 6 has close()/destroy(); node-redis 4 quit()/disconnect().
      const graceful = redis.close ?? redis.quit;
      if (redis.isReady && graceful) {
        await within(1_000, graceful.call(redis), `${name} close`).catch(ignore);
      }
      if (redis.isOpen) {
        if (redis.destroy) redis.destroy();
        else await redis.disconnect?.().catch(ignore);
      }
    },
    ready: (client) => asNodeRedis(client).isReady,
    reconnecting: (client) => asNodeRedis(client).isOpen && !asNodeRedis(client).isReady,
    raw: (client) => rawCommands((args) => asNodeRedis(client).sendCommand(args)),
  };
  return kind;
}

/** Waits in 5 ms steps until `condition()` holds; rejects after `ms` saying `what` did not happen. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 5_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const ioredis: ClientKind = {
  name: 'ioredis',
  library: 'ioredis',
  withoutOfflineQueue: { enableOfflineQueue: false },
  slowReconnect: { retryStrategy: () => 1_000 },
  make(url, options = {}) {
    const client = new Redis(url, { disconnectTimeout: 200, ...(options as RedisOptions) });
    client.on('error', ignore);
    return client;
  },
  async connect(server, options) {
    const client = ioredis.make(server.url, options);
    const redis = asIoredis(client);
    try {
      await waitFor(() => redis.status === 'ready', 'ioredis ready');
    } catch (error) {
      await closeClient(redis);
      throw error;
    }
    return client;
  },
  close: (client) => closeClient(asIoredis(client)),
  ready: (client) => asIoredis(client).status === 'ready',
  reconnecting: (client) => asIoredis(client).status === 'reconnecting',
  raw: (client) => {
    const redis = asIoredis(client);
    return rawCommands(([command, ...args]) => redis.call(command!, ...args));
  },
};

export const clientKinds: readonly ClientKind[] = [
  ioredis,
  nodeRedisKind('node-redis 6', (options) => createClient(options) as unknown as NodeRedis),
  nodeRedisKind('node-redis 4', (options) => createClient4(options) as unknown as NodeRedis),
];

/** The node-redis kinds only, for what only node-redis does (or does differently). */
export const nodeRedisKinds = clientKinds.filter((kind) => kind.library === 'node-redis');

/**
 * The clients one suite opened, to close them all in afterEach/afterAll, also when a test failed.
 */
export function clientPool(kind: ClientKind) {
  let open: Client[] = [];
  return {
    async connect(server: RedisServer, options?: object): Promise<Client> {
      const client = await kind.connect(server, options);
      open.push(client);
      return client;
    },
    /** Like `kind.make`: connecting, not yet ready. */
    make(url: string, options?: object): Client {
      const client = kind.make(url, options);
      open.push(client);
      return client;
    },
    async closeAll(): Promise<void> {
      const closing = open;
      open = [];
      await Promise.all(closing.map((client) => kind.close(client)));
    },
  };
}
