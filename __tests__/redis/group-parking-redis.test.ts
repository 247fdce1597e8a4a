/**
 * A group key with a redisStore (subscribe over Redis pub/sub) parks: the machine's listener goes,
 * the parked one comes; on the next use the parked one goes and the machine's comes. Being the only
 * channel of the client's shared subscriber, each swap closes the subscriber connection and opens a
 * new one: a peer's word published meanwhile is heard by nobody.
 */
import Redis from 'ioredis';
import { createRefreshGate, createRefreshGateGroup, type Tokens } from '../../src/index.js';
import { redisStore } from '../../src/redis/index.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';

jest.setTimeout(30_000);
const real = jest.requireActual('timers') as typeof import('timers');
const realWait = (ms: number) => new Promise((r) => real.setTimeout(r, ms));
const quiet = { debug() {}, warn() {} };

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.close();
});
afterEach(() => jest.useRealTimers());

async function run(idle: number, when: 'after-park' | 'after-revive' | 'settled') {
  const key = `rv2:${Math.random()}`;
  const a = new Redis(server.port, '127.0.0.1');
  const b = new Redis(server.port, '127.0.0.1');
  const watcher = new Redis(server.port, '127.0.0.1');

  await Promise.all([a.ping(), b.ping(), watcher.ping()]);
  const numsub = async () =>
    Number(((await watcher.pubsub('NUMSUB', `${key}:changed`)) as unknown[])[1]);
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  const group = createRefreshGateGroup({
    key: () => undefined,
    store: (k) => redisStore({ client: a, key: `${key}${k}` }),
    refresh: async () => null,
    logger: quiet,
  });
  const peer = createRefreshGate({
    refresh: async () => null,
    store: redisStore({ client: b, key: `${key}u` }),
    logger: quiet,
  });
  await peer.setTokens({ accessToken: 'T1', refreshToken: 'R1' });
  const handle = group.forKey('u');
  await handle.getAccessToken();
  for (let i = 0; i < 50 && (await numsubOf(watcher, `${key}u`)) < 2; i++) await realWait(10);
  await jest.advanceTimersByTimeAsync(idle);
  if (when === 'settled') {
    await realWait(300);
    void group.forKey('u').state;
    await realWait(300);
  }
  if (when === 'after-revive') void group.forKey('u').state;
  await peer.clear(); // a logout elsewhere, published on the key's channel
  jest.useRealTimers();
  await realWait(300);
  const held = group.forKey('u').tokens as Tokens | null;
  group.destroy();
  peer.destroy();
  await realWait(50);
  a.disconnect();
  b.disconnect();
  watcher.disconnect();
  void numsub;
  return held;
}
async function numsubOf(client: Redis, key: string) {
  return Number(((await client.pubsub('NUMSUB', `${key}:changed`)) as unknown[])[1]);
}

it('control (no parking): the peer logout reaches the key', async () => {
  expect(await run(1_000, 'after-revive')).toBeNull();
});
it('a peer logout right after the key parked is not lost', async () => {
  expect(await run(16_000, 'after-park')).toBeNull();
});
it('a peer logout right after the key revived is not lost', async () => {
  expect(await run(16_000, 'after-revive')).toBeNull();
});
it('(the window) a peer logout once the new subscriber connection is up is heard', async () => {
  expect(await run(16_000, 'settled')).toBeNull();
});
