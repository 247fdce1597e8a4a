import type { Connection, PubSub } from './connection.js';

/**
 * One subscriber connection, made on first use (a connection in subscriber mode can run no other
 * command), serving several channels. It subscribes once the connection is ready, and again after
 * every reconnect, so it also works with the client's offline queue disabled.
 */
export class Subscriber {
  readonly #connection: Connection;
  readonly #closeWhenIdle: boolean;
  #pubsub: PubSub | undefined;
  readonly #channels = new Map<string, Set<(message: string) => void>>();

  constructor(connection: Connection, closeWhenIdle: boolean) {
    this.#connection = connection;
    this.#closeWhenIdle = closeWhenIdle;
  }

  /** Calls `handler` with every message on `channel`; returns the function that stops it. */
  listen(channel: string, handler: (message: string) => void): () => void {
    let handlers = this.#channels.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.#channels.set(channel, handlers);
      this.#pubsub ??= this.#connection.pubsub((on, message) => {
        const current = this.#channels.get(on);
        if (current) for (const each of [...current]) each(message);
      });
      this.#pubsub.subscribe(channel);
    }
    handlers.add(handler);
    const own = handlers;
    return () => {
      if (!own.delete(handler) || own.size > 0 || this.#channels.get(channel) !== own) return;
      this.#channels.delete(channel);
      if (this.#closeWhenIdle && this.#channels.size === 0) this.close();
      else this.#pubsub?.unsubscribe(channel);
    };
  }

  /** Closes the connection; a later `listen` opens a new one. */
  close(): void {
    const pubsub = this.#pubsub;
    this.#pubsub = undefined;
    this.#channels.clear();
    pubsub?.close();
  }
}

/** One subscriber per client, shared by every coordinator and store on it (a group's thousands). */
const shared = new WeakMap<object, Subscriber>();

/**
 * The subscriber connection of `client`, shared: one connection for every channel listened to on
 * it, closed once nobody listens any more.
 */
export function sharedSubscriber(client: object, connection: Connection): Subscriber {
  let found = shared.get(client);
  if (!found) {
    found = new Subscriber(connection, true);
    shared.set(client, found);
  }
  return found;
}

export const ignore = (): void => {};
