import Redis from 'ioredis';
import type { Tokens } from '../../src/index.js';
import { redisStore } from '../../src/redis/index.js';
import { closeClient, type RedisServer, startRedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let one: Redis;
let two: Redis;
let keys = 0;

const connect = () => {
  const client = new Redis(server.port, '127.0.0.1', { disconnectTimeout: 200 });
  client.on('error', () => {});
  return client;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  server = await startRedisServer();
  one = connect();
  two = connect();
});

afterAll(async () => {
  await Promise.all([one && closeClient(one), two && closeClient(two)]);
  await server?.close();
});

const tokens: Tokens = { accessToken: 'a1', refreshToken: 'r1', expiresAt: 1_800_000_000_000 };

describe('redisStore', () => {
  it('keeps the tokens as JSON in the key, shared by every client', async () => {
    const key = `store:${++keys}`;
    const a = redisStore({ client: one, key });
    const b = redisStore({ client: two, key });
    expect(await b.get()).toBeNull();
    await a.set(tokens);
    expect(JSON.parse((await two.get(key))!)).toEqual(tokens);
    expect(await b.get()).toEqual(tokens);
    await b.clear();
    expect(await a.get()).toBeNull();
    // A logout is a null in the key, not a missing key.
    expect(await one.get(key)).toBe('null');
  });

  it('reads a key Redis lost (a restart without persistence, a flush) as the tokens it last knew; a logout stays a logout', async () => {
    const key = `store:${++keys}`;
    const a = redisStore({ client: one, key });
    const b = redisStore({ client: two, key });
    expect(await b.get()).toBeNull();
    await a.set(tokens);
    expect(await b.get()).toEqual(tokens);
    await one.del(key);
    expect(await a.get()).toEqual(tokens);
    expect(await b.get()).toEqual(tokens);
    // Never known to a new store: nothing.
    expect(await redisStore({ client: two, key }).get()).toBeNull();
    await a.set(tokens);
    await b.clear();
    expect(await a.get()).toBeNull();
    await one.del(key);
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
      await one.set(key, raw);
      await expect(store.get()).resolves.toBeNull();
    }
    await one.set(key, JSON.stringify({ accessToken: 'a', extra: true }));
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
      await one.set(key, JSON.stringify({ accessToken, refreshToken: 'r1' }));
      await expect(store.get()).resolves.toBeNull();
    },
  );

  it('ignores a message on its channel whose access token could inject a header', async () => {
    const key = `store:${++keys}`;
    const store = redisStore({ client: one, key });
    const heard: Array<Tokens | null> = [];
    const unsubscribe = store.subscribe!((value) => heard.push(value));
    await sleep(50);
    const say = (tokens: unknown) =>
      one.publish(`${key}:changed`, JSON.stringify({ from: 'another process', tokens }));
    await say({ accessToken: 'abc\r\nX-Evil: 1' });
    await say({ accessToken: 'a', refreshToken: '' });
    await say(tokens);
    while (heard.length < 1) await sleep(5);
    await sleep(30);
    expect(heard).toEqual([tokens]);
    unsubscribe();
  });

  it('tells subscribers of changes made by other processes, not of its own, and closes its subscriber when the last one leaves', async () => {
    const key = `store:${++keys}`;
    const mine = redisStore({ client: one, key });
    const theirs = redisStore({ client: two, key });
    const heard: Array<Tokens | null> = [];
    const unsubscribe = mine.subscribe!((value) => heard.push(value));
    await sleep(50);
    expect(await one.pubsub('NUMSUB', `${key}:changed`)).toEqual([`${key}:changed`, 1]);

    await mine.set({ accessToken: 'own' });
    await theirs.set(tokens);
    await one.publish(`${key}:changed`, 'garbage');
    await theirs.clear();
    while (heard.length < 2) await sleep(5);
    await sleep(30);
    expect(heard).toEqual([tokens, null]);

    unsubscribe();
    await sleep(50);
    expect(await one.pubsub('NUMSUB', `${key}:changed`)).toEqual([`${key}:changed`, 0]);
  });

  it('fails at once with a clear error when Redis is down, instead of queueing', async () => {
    const dead = new Redis(1, '127.0.0.1', { retryStrategy: () => 1_000, disconnectTimeout: 200 });
    dead.on('error', () => {});
    try {
      while (dead.status !== 'reconnecting') await sleep(5);
      const store = redisStore({ client: dead, key: 'store:down' });
      await expect(store.get()).rejects.toThrow(
        /Redis is unavailable \(connection reconnecting\); reading the tokens/,
      );
      await expect(store.set(tokens)).rejects.toMatchObject({ name: 'RedisUnavailableError' });
      await expect(store.clear()).rejects.toMatchObject({ name: 'RedisUnavailableError' });
    } finally {
      dead.disconnect();
    }
  });

  it('wraps a command that fails in the same error, with the cause', async () => {
    const closed = new Redis(server.port, '127.0.0.1', {
      enableOfflineQueue: false,
      lazyConnect: true,
      disconnectTimeout: 200,
    });
    closed.on('error', () => {});
    const store = redisStore({ client: closed, key: 'store:lazy' });
    const error = await Promise.resolve(store.get()).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ name: 'RedisUnavailableError' });
    expect((error as Error).cause).toBeInstanceOf(Error);
    closed.disconnect();
  });
});
