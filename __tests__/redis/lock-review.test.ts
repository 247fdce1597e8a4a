/**
 * Found by an adversarial review of the Redis lock (each test failed on 179f81d):
 * - a member that never took the lock, after Redis lost every key, must not take it from a live
 *   holder (it saw its client reconnect: a restart may have lost the holder's record);
 * - a fenced write given up as unanswered (a one-way partition; a command in a queue) must not
 *   land after a later word such as a logout (the store's generation), also after Redis lost
 *   its keys (a random generation, not a counter);
 * - a lease ahead of Redis' clock (the clock stepped back, a replica's clock behind) and a
 *   liveness record that is not numbers must not keep a dead holder's lock for ever.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import Redis from 'ioredis';
import { redisMembers, sleep, until } from '../helpers/redis-members.js';
import { closeClient, type RedisServer, startRedisServer } from '../helpers/redis-server.js';

jest.setTimeout(30_000);

/** A TCP proxy to Redis whose client-to-Redis direction can be held (a one-way partition). */
function proxy(target: number) {
  let held = false;
  const queued: Array<() => void> = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((down) => {
    const up = createConnection({ host: '127.0.0.1', port: target });
    sockets.push(down, up);
    down.on('data', (chunk) => {
      if (held) queued.push(() => up.write(chunk));
      else up.write(chunk);
    });
    up.on('data', (chunk) => down.write(chunk));
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  return {
    listen: () =>
      new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
      ),
    hold() {
      held = true;
    },
    heal() {
      held = false;
      for (const send of queued.splice(0)) send();
    },
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

let server: RedisServer;
let port = 0;
let viaProxy = false;
const clients: Redis[] = [];
const connect = () => {
  const client = new Redis(viaProxy ? port : server.port, '127.0.0.1', { disconnectTimeout: 200 });
  client.on('error', () => {});
  clients.push(client);
  return client;
};
const members = redisMembers(connect);
let cut: ReturnType<typeof proxy> | undefined;

afterEach(async () => {
  members.cleanup();
  cut?.heal();
  await Promise.all(clients.splice(0).map((client) => closeClient(client)));
  cut?.close();
  cut = undefined;
  await server?.close();
});

it('a member that never took the lock does not take it over from a live holder after Redis lost every key', async () => {
  server = await startRedisServer({ persistence: false });
  const { key, a, b } = await members.scope(1_500);
  // B has read the tokens (OLD) but never asked for the lock.
  expect(await b.gate.getAccessToken()).toBe('access-0');
  const first = a.api.get('/me');
  await until(() => a.calls.length === 1, "A's refresh call");
  await server.stop();
  await sleep(100);
  await server.restart();
  await until(() => b.client.status === 'ready', 'B reconnected');
  // B's request meets the expired token (401) right after the restart.
  const second = b.api.get('/me');
  await sleep(400);
  a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
  for (const call of b.calls)
    call.answer.resolve({ accessToken: 'access-B', refreshToken: 'refresh-B' });
  await Promise.allSettled([first, second]);
  // The promise: one rotation (A's), never a second call while A is alive and Redis serves.
  expect(b.calls).toHaveLength(0);
  await expect(first).resolves.toMatchObject({ data: { auth: 'Bearer access-A' } });
  await expect(second).resolves.toMatchObject({ data: { auth: 'Bearer access-A' } });
  expect(await members.stored(connect(), key)).toEqual({
    accessToken: 'access-A',
    refreshToken: 'refresh-A',
  });
});

it('a fenced write given up as unanswered does not land after a logout elsewhere', async () => {
  server = await startRedisServer();
  cut = proxy(server.port);
  port = await cut.listen();
  const { key, seed, b } = await members.scope(600);
  viaProxy = true;
  const a = members.member(key, 600, undefined, { refreshTimeoutMs: 1_500 });
  viaProxy = false;
  expect(await b.gate.getAccessToken()).toBe('access-0');
  const first = a.api.get('/me');
  await until(() => a.calls.length === 1, "A's refresh call");
  cut.hold();
  a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
  // Connected, A waits for Redis to answer its write, as long as its refresh may take: then its
  // request fails, typed.
  await expect(first).rejects.toMatchObject({ code: 'REFRESH_TIMEOUT' });
  // The user logs out (on B): the store is cleared, the fleet told.
  await b.gate.clear();
  expect(await members.stored(seed, key)).toBeNull();
  // The partition heals; A's buffered commands reach Redis.
  cut.heal();
  await sleep(500);
  expect(await members.stored(seed, key)).toBeNull();
  expect(await b.gate.getAccessToken()).toBeNull();
});

const redisNow = async (client: Redis) => {
  const [s, us] = await client.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
};

it('a dead holder whose lease lies ahead of Redis clock (clock stepped back 1 h) is taken over', async () => {
  server = await startRedisServer();
  const { key, seed, b } = await members.scope(300);
  // A holder died after taking the lock; its key expired; Redis' clock then stepped back 1 h.
  await seed.set(`${key}:holder`, 'dead-member:1');
  await seed.hset(`${key}:live`, 'l', (await redisNow(seed)) + 3_600_000);
  const request = b.api.get('/me');
  await until(() => b.calls.length === 1, "B's refresh call (takeover)", 3_000);
  b.calls[0]?.answer.resolve({ accessToken: 'access-B', refreshToken: 'refresh-B' });
  await expect(request).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
});

it('a liveness record that is not a number (field s) does not wedge the scope', async () => {
  server = await startRedisServer();
  const { key, seed, b } = await members.scope(300);
  await seed.set(`${key}:holder`, 'dead-member:1');
  await seed.hset(`${key}:live`, 's', 'garbage', 't', await redisNow(seed), 'l', 0);
  const request = b.api.get('/me');
  const settled = request.then(
    () => 'ok',
    (error: Error) => `${error.name}: ${error.message}`,
  );
  await until(() => b.calls.length === 1, "B's refresh call (takeover)", 3_000).catch(
    async (error) => {
      throw new Error(`${error.message}; the request ended with: ${await settled}`);
    },
  );
  b.calls[0]?.answer.resolve({ accessToken: 'access-B', refreshToken: 'refresh-B' });
  await expect(request).resolves.toMatchObject({ data: { auth: 'Bearer access-B' } });
});

// The store's generation was a counter: after Redis lost its keys it started again at 1, so a held
// fenced write whose double-check read "1" matched the "1" of a logout made since (ABA).
it('a fenced write given up as unanswered does not land after Redis lost its keys and the user logged out', async () => {
  server = await startRedisServer();
  cut = proxy(server.port);
  port = await cut.listen();
  const { key, seed, b } = await members.scope(600);
  // One plain write so far (a login): the generation is 1.
  await b.gate.setTokens({ accessToken: 'access-0', refreshToken: 'refresh-0' });
  viaProxy = true;
  const a = members.member(key, 600, undefined, { refreshTimeoutMs: 1_500 });
  viaProxy = false;
  const first = a.api.get('/me');
  await until(() => a.calls.length === 1, "A's refresh call");
  cut.hold();
  a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
  await expect(first).rejects.toMatchObject({ code: 'REFRESH_TIMEOUT' });
  // Redis loses every key (a restart without persistence; here FLUSHALL), then the user logs out.
  await seed.flushall();
  await b.gate.clear();
  expect(await members.stored(seed, key)).toBeNull();
  cut.heal();
  await sleep(500);
  // The logout stands.
  expect(await members.stored(seed, key)).toBeNull();
});
