/**
 * The parts of an ioredis client (`new Redis(...)`, v5 or later) that are used. Written out here,
 * so that the types hold for an app that installed node-redis and not ioredis.
 */
export interface IoredisClient {
  readonly status: string;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
  eval(script: string, numkeys: number, ...args: Array<string | number>): Promise<unknown>;
  get(key: string): Promise<string | null>;
  duplicate(options?: object): IoredisSubscriber;
}

/** The subscriber connection an ioredis client's `duplicate()` makes. */
interface IoredisSubscriber {
  readonly status: string;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
  removeAllListeners(event: string): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/**
 * The parts of a node-redis client (`createClient()` of the `redis` package, v4 or later, not in
 * `legacyMode`) that are used. It must be connected (`await client.connect()`) by the app.
 */
export interface NodeRedisClient {
  readonly isReady: boolean;
  readonly isOpen: boolean;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  get(key: string): Promise<string | null>;
  duplicate(): NodeRedisSubscriber;
}

/** The subscriber connection a node-redis client's `duplicate()` makes (not yet connected). */
interface NodeRedisSubscriber {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
  quit?(): Promise<unknown>;
  close?(): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<unknown>;
}

/** An event listener, as both clients declare it (`any`: a narrower type would not accept theirs). */
// biome-ignore lint/suspicious/noExplicitAny: the clients' own listener type
type Listener = (...args: any[]) => void;

/** A Redis client this subpath works with: ioredis or node-redis. It is used, never created or closed. */
export type RedisClient = IoredisClient | NodeRedisClient;

/** A subscriber connection, whichever the client: messages of the channels it was told to hear. */
export interface PubSub {
  subscribe(channel: string): void;
  unsubscribe(channel: string): void;
  close(): void;
}

/** The commands the coordinator, the stores and the deduper send, the same for both clients. */
export interface Connection {
  /** An error for a client that is down (a command would only wait in its offline queue), or undefined. */
  down(what: string): Error | undefined;
  /** Wraps a failed command in an error that says what could not be done and what to check. */
  failed(what: string, cause: unknown): Error;
  /**
   * Whether the client is connected: a command unanswered then is with Redis (paused, busy), not
   * in the client's offline queue.
   */
  ready(): boolean;
  eval(
    script: string,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown>;
  get(key: string): Promise<string | null>;
  /** A new subscriber connection that calls `onMessage` for each message of a channel it hears. */
  pubsub(onMessage: (channel: string, message: string) => void): PubSub;
  /**
   * Calls `listener` each time the client is ready again after it lost its connection (Redis
   * restarted, perhaps); returns the function that stops it.
   */
  onReconnect(listener: () => void): () => void;
}

/** ioredis connection states in which a command would only wait in the offline queue, or fail. */
const DOWN = new Set(['reconnecting', 'close', 'end']);

const ignore = (): void => {};

/** The one 'ready' listener of each client and the coordinators it tells of a reconnect. */
const reconnects = new WeakMap<object, { listeners: Set<() => void>; onReady: () => void }>();

/** Whether `client` is a node-redis client (it reports `isReady`; ioredis reports `status`). */
const isNodeRedis = (client: RedisClient): client is NodeRedisClient =>
  typeof (client as NodeRedisClient).isReady === 'boolean';

/**
 * One interface over both clients. Each command first checks that the client is connected,
 * because both queue commands while they reconnect (ioredis by default for 20 attempts, node-redis
 * for ever): a refresh must fail at once with a clear error instead of waiting in that queue.
 */
export function connect(client: RedisClient): Connection {
  const node = isNodeRedis(client);
  const status = () =>
    node ? (client.isReady ? 'ready' : client.isOpen ? 'reconnecting' : 'closed') : client.status;
  const failed = (what: string, cause: unknown): Error => {
    const reason = cause instanceof Error ? `: ${cause.message}` : '';
    const error = new Error(
      `Redis is unavailable (connection ${status()}${reason}); ${what} failed. ` +
        `Check the connection of the ${node ? 'node-redis' : 'ioredis'} client given to axios-refresh-gate.`,
      cause === undefined ? undefined : { cause },
    );
    error.name = 'RedisUnavailableError';
    return error;
  };
  return {
    down: (what) =>
      (node ? client.isReady : !DOWN.has(client.status)) ? undefined : failed(what, undefined),
    failed,
    ready: () => status() === 'ready',
    eval: node
      ? (script, keys, args) =>
          client.eval(script, { keys: [...keys], arguments: args.map(String) })
      : (script, keys, args) => client.eval(script, keys.length, ...keys, ...args),
    get: (key) => client.get(key),
    pubsub: node
      ? (onMessage) => nodeRedisPubSub(client, onMessage)
      : (onMessage) => ioredisPubSub(client, onMessage),
    onReconnect(listener) {
      if (typeof client.on !== 'function') return ignore;
      // One 'ready' listener per client, however many coordinators watch it (a group's thousands).
      let watch = reconnects.get(client);
      if (!watch) {
        const listeners = new Set<() => void>();
        let ready = status() === 'ready';
        const onReady = () => {
          if (ready) for (const each of [...listeners]) each();
          ready = true;
        };
        watch = { listeners, onReady };
        reconnects.set(client, watch);
        client.on('ready', onReady);
      }
      const { listeners, onReady } = watch;
      listeners.add(listener);
      return () => {
        if (!listeners.delete(listener) || listeners.size > 0) return;
        client.removeListener('ready', onReady);
        reconnects.delete(client);
      };
    },
  };
}

function ioredisPubSub(
  client: IoredisClient,
  onMessage: (channel: string, message: string) => void,
): PubSub {
  const channels = new Set<string>();
  // It subscribes itself on every 'ready' (also after a reconnect, and with enableOfflineQueue:
  // false); ioredis doing it as well would only repeat it.
  const connection = client.duplicate({ autoResubscribe: false, lazyConnect: false });
  // Connection problems surface as failed commands on the main client; the subscriber's own
  // 'error' events would only repeat them (and, unhandled, be logged by ioredis).
  connection.on('error', ignore);
  connection.on('ready', () => {
    if (channels.size > 0) connection.subscribe(...channels).catch(ignore);
  });
  connection.on('message', onMessage);
  return {
    subscribe(channel) {
      channels.add(channel);
      if (connection.status === 'ready') connection.subscribe(channel).catch(ignore);
    },
    unsubscribe(channel) {
      channels.delete(channel);
      if (connection.status === 'ready') connection.unsubscribe(channel).catch(ignore);
    },
    close() {
      channels.clear();
      connection.removeAllListeners('message');
      connection.removeAllListeners('ready');
      // QUIT lets Redis close the connection at once; disconnect() on a socket that never hears
      // back keeps a 2 s timer of ioredis' alive (and with it the process).
      if (connection.status === 'ready') connection.quit().catch(() => connection.disconnect());
      else connection.disconnect();
    },
  };
}

function nodeRedisPubSub(
  client: NodeRedisClient,
  onMessage: (channel: string, message: string) => void,
): PubSub {
  const channels = new Set<string>();
  let closed = false;
  const connection = client.duplicate();
  const listener = (message: string, channel: string) => {
    if (!closed) onMessage(channel, message);
  };
  // node-redis subscribes again by itself after a reconnect; a channel asked for before the
  // first connect (its offline queue may be disabled) is subscribed once it is ready.
  const send = (channel: string) => connection.subscribe(channel, listener).catch(ignore);
  let subscribed = false;
  connection.on('error', ignore);
  connection.on('ready', () => {
    if (!subscribed) for (const channel of channels) send(channel);
    subscribed = true;
  });
  connection.connect().catch(ignore);
  return {
    subscribe(channel) {
      channels.add(channel);
      if (connection.isReady) send(channel);
    },
    unsubscribe(channel) {
      channels.delete(channel);
      if (connection.isReady) connection.unsubscribe(channel).catch(ignore);
    },
    close() {
      closed = true;
      channels.clear();
      const stop = connection.close ?? connection.quit;
      const kill = () => (connection.destroy ?? connection.disconnect)?.call(connection);
      const end = () => {
        if (stop) stop.call(connection).catch(kill);
        else Promise.resolve().then(kill).catch(ignore);
      };
      if (connection.isReady) return end();
      // Still connecting: node-redis cannot tear down a socket it is opening (it would then go
      // ready on a socket nobody owns, and keep the process alive). Closed once it is ready, or
      // destroyed at its first failed attempt.
      let once = false;
      connection.on('ready', () => {
        if (!once) end();
        once = true;
      });
      connection.on('error', () => {
        if (!once) Promise.resolve().then(kill).catch(ignore);
        once = true;
      });
    },
  };
}

/** Throws, through `fail`, unless `client` is an ioredis or a node-redis client. */
export function checkClient(
  client: unknown,
  fail: (name: string, what: string, value: unknown) => Error,
): asserts client is RedisClient {
  const methods = ['eval', 'get', 'duplicate'] as const;
  if (
    typeof client !== 'object' ||
    client === null ||
    methods.some((name) => typeof (client as Record<string, unknown>)[name] !== 'function')
  ) {
    throw fail('client', 'an ioredis or a node-redis client', client);
  }
}
