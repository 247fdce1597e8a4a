import type { Redis } from 'ioredis';

/**
 * One subscriber connection, made with `client.duplicate()` on first use (a connection in
 * subscriber mode can run no other command), serving several channels. It subscribes once the
 * connection is ready, and again after every reconnect, so it also works with
 * `enableOfflineQueue: false`.
 */
export class Subscriber {
  readonly #client: Redis;
  readonly #closeWhenIdle: boolean;
  #connection: Redis | undefined;
  readonly #channels = new Map<string, Set<(message: string) => void>>();

  constructor(client: Redis, closeWhenIdle: boolean) {
    this.#client = client;
    this.#closeWhenIdle = closeWhenIdle;
  }

  /** Calls `handler` with every message on `channel`; returns the function that stops it. */
  listen(channel: string, handler: (message: string) => void): () => void {
    let handlers = this.#channels.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.#channels.set(channel, handlers);
      const connection = this.#connect();
      if (connection.status === 'ready') connection.subscribe(channel).catch(ignore);
    }
    handlers.add(handler);
    const own = handlers;
    return () => {
      if (!own.delete(handler) || own.size > 0 || this.#channels.get(channel) !== own) return;
      this.#channels.delete(channel);
      if (this.#closeWhenIdle && this.#channels.size === 0) this.close();
      else if (this.#connection?.status === 'ready')
        this.#connection.unsubscribe(channel).catch(ignore);
    };
  }

  /** Closes the connection; a later `listen` opens a new one. */
  close(): void {
    const connection = this.#connection;
    this.#connection = undefined;
    this.#channels.clear();
    if (!connection) return;
    connection.removeAllListeners('message');
    connection.removeAllListeners('ready');
    // QUIT lets Redis close the connection at once; disconnect() on a socket that never hears
    // back keeps a 2 s timer of ioredis' alive (and with it the process).
    if (connection.status === 'ready') connection.quit().catch(() => connection.disconnect());
    else connection.disconnect();
  }

  #connect(): Redis {
    if (this.#connection) return this.#connection;
    // The subscriber resubscribes itself on 'ready'; ioredis doing it as well would only repeat it.
    const connection = this.#client.duplicate({ autoResubscribe: false, lazyConnect: false });
    // Connection problems surface as failed commands on the main client; the subscriber's own
    // 'error' events would only repeat them (and, unhandled, be logged by ioredis).
    connection.on('error', ignore);
    connection.on('ready', () => {
      const channels = [...this.#channels.keys()];
      if (channels.length > 0) connection.subscribe(...channels).catch(ignore);
    });
    connection.on('message', (channel: string, message: string) => {
      const handlers = this.#channels.get(channel);
      if (!handlers) return;
      for (const handler of [...handlers]) handler(message);
    });
    this.#connection = connection;
    return connection;
  }
}

export const ignore = (): void => {};
