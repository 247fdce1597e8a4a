import Redis from 'ioredis';
import type { Tokens } from '../../src/index.js';
import { redisStore } from '../../src/redis/index.js';
import { type Client, clientKinds, clientPool, waitFor } from '../helpers/redis-clients.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let keys = 0;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.close();
});

const tokens: Tokens = { accessToken: 'a1', refreshToken: 'r1', expiresAt: 1_800_000_000_000 };

describe.each(clientKinds)('redisStore on $name', (kind) => {
  const clients = clientPool(kind);
  let one: Client;
  let two: Client;

  beforeAll(async () => {
    one = await clients.connect(server);
    two = await clients.connect(server);
  });

  afterAll(() => clients.closeAll());

  it('keeps the tokens as JSON in the key, shared by every client', async () => {
    const key = `store:${++keys}`;
    const a = redisStore({ client: one, key });
    const b = redisStore({ client: two, key });
    expect(await b.get()).toBeNull();
    await a.set(tokens);
    expect(JSON.parse((await kind.raw(two).get(key))!)).toEqual(tokens);
    expect(await b.get()).toEqual(tokens);
    await b.clear();
    expect(await a.get()).toBeNull();
    // A logout is a null in the key, not a missing key.
    expect(await kind.raw(one).get(key)).toBe('null');
  });

  it('reads a key Redis lost (a restart without persistence, a flush) as the tokens it last knew; a logout stays a logout', async () => {
    const key = `store:${++keys}`;
    const a = redisStore({ client: one, key });
    const b = redisStore({ client: two, key });
    expect(await b.get()).toBeNull();
    await a.set(tokens);
    expect(await b.get()).toEqual(tokens);
    await kind.raw(one).del(key);
    expect(await a.get()).toEqual(tokens);
    expect(await b.get()).toEqual(tokens);
    // Never known to a new store: nothing.
    expect(await redisStore({ client: two, key }).get()).toBeNull();
    await a.set(tokens);
    await b.clear();
    expect(await a.get()).toBeNull();
    await kind.raw(one).del(key);
    expect(await a.get()).toBeNull();
    expect(await b.get()).toBeNull();
  });

  it('reads a corrupted or foreign value as null, without throwing', async () => {
    const key = `store:${++keys}`;
    const store = redisStore({ client: one, key });
    for (const raw of [
      '{not json',
      '"a string"',
      '42',
      'null',
      '{"accessToken":""}',
      '{"accessToken":"a","expiresAt":"soon"}',
      '{"accessToken":"a","refreshToken":7}',
      '{"accessToken":"a","refreshToken":""}',
      '[{"accessToken":"a"}]',
    ]) {
      await kind.raw(one).set(key, raw);
      await expect(store.get()).resolves.toBeNull();
    }
    await kind.raw(one).set(key, JSON.stringify({ accessToken: 'a', extra: true }));
    await expect(store.get()).resolves.toEqual({ accessToken: 'a' });
  });

  it.each([
    ['CRLF (a second header)', 'abc\r\nX-Evil: 1'],
    ['a bare LF', 'abc\nX-Evil: 1'],
    ['a space', 'Bearer abc'],
    ['a control character', 'abc\u0000'],
    ['non-ASCII', 'tökén'],
  ])(
    'reads an access token with %s as null (no token): it would go into a header',
    async (_, accessToken) => {
      const key = `store:${++keys}`;
      const store = redisStore({ client: one, key });
      await kind.raw(one).set(key, JSON.stringify({ accessToken, refreshToken: 'r1' }));
      await expect(store.get()).resolves.toBeNull();
    },
  );

  it('ignores a message on its channel whose access token could inject a header', async () => {
    const key = `store:${++keys}`;
    const store = redisStore({ client: one, key });
    const heard: Array<Tokens | null> = [];
    const unsubscribe = store.subscribe!((value) => heard.push(value));
    try {
      await waitFor(async () => (await kind.raw(two).numsub(`${key}:changed`)) === 1, 'subscribed');
      const say = (tokens: unknown) =>
        kind
          .raw(one)
          .publish(`${key}:changed`, JSON.stringify({ from: 'another process', tokens }));
      await say({ accessToken: 'abc\r\nX-Evil: 1' });
      await say({ accessToken: 'a', refreshToken: '' });
      await say(tokens);
      await waitFor(() => heard.length >= 1, 'the valid tokens heard');
      await sleep(30);
      expect(heard).toEqual([tokens]);
    } finally {
      unsubscribe();
    }
  });

  it('tells subscribers of changes made by other processes, not of its own, and closes its subscriber when the last one leaves', async () => {
    const key = `store:${++keys}`;
    const mine = redisStore({ client: one, key });
    const theirs = redisStore({ client: two, key });
    const heard: Array<Tokens | null> = [];
    const unsubscribe = mine.subscribe!((value) => heard.push(value));
    await waitFor(async () => (await kind.raw(one).numsub(`${key}:changed`)) === 1, 'subscribed');
    expect(await kind.raw(one).numsub(`${key}:changed`)).toBe(1);

    await mine.set({ accessToken: 'own' });
    await theirs.set(tokens);
    await kind.raw(one).publish(`${key}:changed`, 'garbage');
    await theirs.clear();
    await waitFor(() => heard.length >= 2, 'two changes heard');
    await sleep(30);
    expect(heard).toEqual([tokens, null]);

    unsubscribe();
    await waitFor(
      async () => (await kind.raw(one).numsub(`${key}:changed`)) === 0,
      'the subscriber closed',
    );
    expect(await kind.raw(one).numsub(`${key}:changed`)).toBe(0);
  });

  it(`fails at once with a clear error naming ${kind.library} when Redis is down, instead of queueing`, async () => {
    const dead = clients.make('redis://127.0.0.1:1', kind.slowReconnect);
    await waitFor(() => kind.reconnecting(dead), 'the client reconnecting');
    const store = redisStore({ client: dead, key: 'store:down' });
    const started = Date.now();
    const error = await Promise.resolve(store.get()).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ name: 'RedisUnavailableError' });
    expect((error as Error).message).toMatch(
      /^Redis is unavailable \(connection reconnecting\); reading the tokens \(key "store:down"\) failed\./,
    );
    expect((error as Error).message).toContain(
      `Check the connection of the ${kind.library} client given to axios-refresh-gate.`,
    );
    await expect(store.set(tokens)).rejects.toMatchObject({ name: 'RedisUnavailableError' });
    await expect(store.clear()).rejects.toMatchObject({ name: 'RedisUnavailableError' });
    // At once: not after a reconnect attempt (1 s apart) or a command timeout.
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('wraps a command that fails (a key of another type) in the same error, with the cause', async () => {
    const key = `store:${++keys}`;
    await kind.raw(one).sendCommand(['LPUSH', key, 'not tokens']);
    const store = redisStore({ client: one, key });
    const error = await Promise.resolve(store.get()).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ name: 'RedisUnavailableError' });
    expect((error as Error).message).toMatch(/^Redis is unavailable \(connection ready: WRONGTYPE/);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(((error as Error).cause as Error).message).toMatch(/^WRONGTYPE/);
  });
});

it('wraps a command that fails in the same error, with the cause (ioredis: offline queue off, never connected)', async () => {
  const closed = new Redis(server.port, '127.0.0.1', {
    enableOfflineQueue: false,
    lazyConnect: true,
    disconnectTimeout: 200,
  });
  closed.on('error', () => {});
  try {
    const store = redisStore({ client: closed, key: 'store:lazy' });
    const error = await Promise.resolve(store.get()).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ name: 'RedisUnavailableError' });
    expect((error as Error).cause).toBeInstanceOf(Error);
  } finally {
    closed.disconnect();
  }
});
