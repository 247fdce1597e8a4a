/**
 * The subscriber connection the store, the coordinator and the dedupe store make from the client
 * (`client.duplicate()`), on each client they take (ioredis, node-redis 6 and 4): it subscribes
 * once it is ready (also with the client's offline queue disabled), subscribes again after Redis
 * restarted, and is closed by `dispose()` / the last unsubscribe, leaving no socket open.
 * Each test has its own redis-server (one test restarts it), stopped in afterEach.
 */
import {
  type Coordinator,
  createRefreshGate,
  type TokenStore,
  type Tokens,
} from '../../src/index.js';
import { redisCoordinator, redisStore } from '../../src/redis/index.js';
import { type DedupeStore, redisDedupeStore } from '../../src/server/index.js';
import {
  type Client,
  type ClientKind,
  clientKinds,
  clientPool,
  type RawCommands,
  waitFor,
} from '../helpers/redis-clients.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';

jest.setTimeout(20_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Sockets this process holds open (a subscriber connection left open is one). */
const sockets = () =>
  process.getActiveResourcesInfo().filter((resource) => resource === 'TCPSocketWrap').length;

const tokens: Tokens = { accessToken: 'a1', refreshToken: 'r1' };
let scopes = 0;

describe.each(clientKinds)('on $name', (kind: ClientKind) => {
  const clients = clientPool(kind);
  let server: RedisServer;
  const disposers: Array<() => void> = [];

  beforeEach(async () => {
    server = await startRedisServer();
  });

  afterEach(async () => {
    for (const dispose of disposers.splice(0).reverse()) dispose();
    await clients.closeAll();
    await server?.close();
  });

  /** A coordinator and a store on `client`, each subscribed; what they heard. */
  function listening(client: Client, key: string) {
    const coordinator = redisCoordinator({ client, key });
    const store = redisStore({ client, key: `${key}:tokens` });
    const heard = { coordinator: [] as Array<Tokens | null>, store: [] as Array<Tokens | null> };
    const unsubscribe = store.subscribe!((value) => heard.store.push(value));
    coordinator.subscribe!((value) => heard.coordinator.push(value));
    disposers.push(() => coordinator.dispose?.(), unsubscribe);
    return { coordinator, store, heard };
  }

  /** Another process: its own client, coordinator and store on the same key. */
  async function speaker(key: string) {
    const client = await clients.connect(server);
    const coordinator = redisCoordinator({ client, key });
    disposers.push(() => coordinator.dispose?.());
    return {
      raw: kind.raw(client),
      coordinator,
      store: redisStore({ client, key: `${key}:tokens` }),
    };
  }

  const subscribed = (raw: RawCommands, key: string) =>
    waitFor(
      async () =>
        (await raw.numsub(`${key}:events`)) === 1 &&
        (await raw.numsub(`${key}:tokens:changed`)) === 1,
      'both subscriber connections subscribed',
    );

  /** `from` announces tokens through its coordinator and writes them through its store; both heard. */
  async function heardBoth(
    from: { coordinator: Coordinator; store: TokenStore },
    heard: { coordinator: Array<Tokens | null>; store: Array<Tokens | null> },
  ) {
    const before = { coordinator: heard.coordinator.length, store: heard.store.length };
    from.coordinator.publish!(tokens);
    await from.store.set(tokens);
    await waitFor(
      () => heard.coordinator.length > before.coordinator && heard.store.length > before.store,
      'the announcement and the change heard',
    );
    expect(heard.coordinator.at(-1)).toEqual(tokens);
    expect(heard.store.at(-1)).toEqual(tokens);
  }

  it('with the offline queue disabled, the subscriber connections subscribe once ready and hear the announcements and the changes', async () => {
    const client = await clients.connect(server, kind.withoutOfflineQueue);
    const key = `offline-queue:${++scopes}`;
    const { heard } = listening(client, key);
    const other = await speaker(key);
    await subscribed(other.raw, key);
    await heardBoth(other, heard);
  });

  it('after redis-server restarts, the same client reconnects and both subscriptions hear messages again', async () => {
    const client = await clients.connect(server);
    const key = `restart:${++scopes}`;
    const { store, heard } = listening(client, key);
    const before = await speaker(key);
    await subscribed(before.raw, key);
    await heardBoth(before, heard);

    await server.stop();
    await waitFor(() => !kind.ready(client), 'the client noticed');
    await server.restart();
    await waitFor(() => kind.ready(client), 'the client reconnected', 10_000);
    // A new process, connected after the restart, announces and writes: both are heard.
    const after = await speaker(key);
    await subscribed(after.raw, key);
    await heardBoth(after, heard);
    // And the store reads through the same client again.
    await expect(store.get()).resolves.toEqual(tokens);
  });

  describe('closes its subscriber connection, leaving no socket open', () => {
    let raw: RawCommands;
    let client: Client;
    let baseline: { connections: number; sockets: number };

    beforeEach(async () => {
      client = await clients.connect(server);
      raw = kind.raw(client);
      baseline = { connections: await raw.connections(), sockets: sockets() };
    });

    /** Waits (at most 5 s) until `opened` made one connection more, then `closed` made it go. */
    async function opensThenCloses(opened: () => void, closed: () => void) {
      opened();
      await waitFor(
        async () => (await raw.connections()) === baseline.connections + 1,
        'the subscriber connection opened',
      );
      await waitFor(async () => (await raw.numsub(channel)) === 1, 'subscribed');
      closed();
      await closedAgain();
    }
    let channel = '';

    async function closedAgain() {
      await waitFor(
        async () => (await raw.connections()) === baseline.connections,
        'the subscriber connection closed (CLIENT LIST)',
      );
      await waitFor(() => sockets() === baseline.sockets, 'its socket closed in this process');
      // And it stays closed: nothing reconnects it.
      await sleep(100);
      expect(await raw.connections()).toBe(baseline.connections);
      expect(sockets()).toBe(baseline.sockets);
    }

    it('coordinator: dispose()', async () => {
      const key = `close:${++scopes}`;
      channel = `${key}:events`;
      const coordinator = redisCoordinator({ client, key });
      await opensThenCloses(
        () => coordinator.subscribe!(() => {}),
        () => coordinator.dispose!(),
      );
    });

    it('store: the last unsubscribe (and not the first of two)', async () => {
      const key = `close:${++scopes}`;
      channel = `${key}:changed`;
      const store = redisStore({ client, key });
      let second: () => void = () => {};
      await opensThenCloses(
        () => {
          const first = store.subscribe!(() => {});
          second = store.subscribe!(() => {});
          disposers.push(first, second);
          first();
        },
        () => {
          // Still open after the first unsubscribe.
          expect(sockets()).toBe(baseline.sockets + 1);
          second();
        },
      );
    });

    it('dedupe store: dispose()', async () => {
      channel = `dedupe:${++scopes}:settled`;
      const store: DedupeStore = redisDedupeStore({ client, prefix: `dedupe:${scopes}:` });
      await opensThenCloses(
        () => store.watch('hash', () => {}),
        () => store.dispose?.(),
      );
    });

    it.each([
      [
        'coordinator: dispose()',
        (key: string, on: Client) => {
          const coordinator = redisCoordinator({ client: on, key });
          coordinator.subscribe!(() => {});
          return () => coordinator.dispose!();
        },
      ],
      [
        'store: the last unsubscribe',
        (key: string, on: Client) => redisStore({ client: on, key }).subscribe!(() => {}),
      ],
      [
        // As an app does: a gate made (it subscribes to its store and coordinator) and destroyed.
        'gate: destroy() (then the coordinator disposed of)',
        (key: string, on: Client) => {
          const coordinator = redisCoordinator({ client: on, key });
          const gate = createRefreshGate({
            refresh: async () => 'access',
            store: redisStore({ client: on, key: `${key}:tokens` }),
            coordinator,
          });
          return () => {
            gate.destroy();
            coordinator.dispose!();
          };
        },
      ],
    ])('%s right after subscribing, before the connection is ready', async (_, subscribe) => {
      const close = subscribe(`early:${++scopes}`, client);
      close();
      await closedAgain();
    });
  });
});
