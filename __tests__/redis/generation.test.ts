/**
 * The store's generation is a counter: after Redis lost its keys (restart without persistence,
 * FLUSHALL, failover to an empty replica) it starts again at 1, so a held fenced write whose
 * double-check read "1" matches the "1" of a logout made since (ABA).
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
