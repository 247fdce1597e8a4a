/**
 * createRefreshGateGroup on a fleet (issue 15): two members (two Redis connections, as two
 * processes), each a group whose keys have a redisStore and a redisCoordinator of their own, on a
 * real redis-server. Each user's tokens expired; both members fire requests for every user at
 * once: one refresh per user across the fleet, no rotated token presented again, every request
 * carries its own user's token.
 */
import axios from 'axios';
import MockAdapter from 'axios-mock-adapter';
import { createRefreshGateGroup, type RefreshGateGroup, type Tokens } from '../../src/index.js';
import { redisCoordinator, redisStore } from '../../src/redis/index.js';
import { authOf } from '../helpers/gate-fixtures.js';
import { type Client, clientKinds, clientPool } from '../helpers/redis-clients.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';

jest.setTimeout(60_000);

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.close();
});

/** The identity provider: a rotating refresh token per user; a spent one presented again is reuse. */
function provider() {
  const current = new Map<string, { access: string; refresh: string }>();
  const spent = new Set<string>();
  const refreshes = new Map<string, number>();
  let reuse = 0;
  let n = 0;
  const issue = (user: string): Tokens => {
    n++;
    const pair = { access: `${user}.at${n}`, refresh: `${user}.rt${n}` };
    current.set(user, pair);
    return { accessToken: pair.access, refreshToken: pair.refresh };
  };
  return {
    current,
    refreshes,
    reuse: () => reuse,
    issue,
    expire: (user: string) => {
      const pair = current.get(user);
      if (pair) current.set(user, { ...pair, access: `${user}.expired` });
    },
    async refresh(user: string, refreshToken: string | undefined): Promise<Tokens> {
      refreshes.set(user, (refreshes.get(user) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const pair = current.get(user);
      if (!refreshToken || spent.has(refreshToken) || pair?.refresh !== refreshToken) {
        reuse++;
        throw new Error(`invalid_grant for ${user}`);
      }
      spent.add(refreshToken);
      return issue(user);
    },
  };
}

describe.each(clientKinds)('on $name', (kind) => {
  const clients = clientPool(kind);
  let one: Client;
  let two: Client;
  beforeAll(async () => {
    one = await clients.connect(server);
    two = await clients.connect(server);
  });
  afterAll(() => clients.closeAll());

  it('20 users, two members firing 5 requests each per user on expired tokens: one refresh per user in the fleet, nothing reused', async () => {
    const idp = provider();
    const prefix = `group:${kind.name}:${Date.now()}`;
    const leaks: string[] = [];
    const member = (client: Client) => {
      const api = axios.create({ baseURL: 'https://api.test' });
      new MockAdapter(api).onAny().reply((config) => {
        const user = String(config.headers?.['x-user']);
        const token = authOf(config)?.slice('Bearer '.length) ?? '';
        if (!token.startsWith(`${user}.`)) leaks.push(`${user} sent ${token}`);
        return idp.current.get(user)?.access === token ? [200, { user }] : [401, {}];
      });
      const group: RefreshGateGroup = createRefreshGateGroup({
        key: (config) => (config.headers.get('x-user') as string | undefined) ?? undefined,
        store: (user) => redisStore({ client, key: `${prefix}:${user}` }),
        coordinator: (user) => redisCoordinator({ client, key: `${prefix}:${user}` }),
        refresh: ({ key, tokens }) => idp.refresh(String(key), tokens?.refreshToken),
        logger: { debug() {}, warn() {} },
      });
      group.attach(api);
      return { api, group };
    };
    const a = member(one);
    const b = member(two);
    const users = Array.from({ length: 20 }, (_, i) => `user${i}`);
    try {
      // Each user logged in through member a; the tokens are in Redis for both.
      for (const user of users) await a.group.forKey(user).setTokens(idp.issue(user));
      for (const user of users) idp.expire(user);
      const results = await Promise.allSettled(
        users.flatMap((user) =>
          [a, b].flatMap(({ api }) =>
            Array.from({ length: 5 }, () => api.get('/me', { headers: { 'x-user': user } })),
          ),
        ),
      );
      expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
      expect([...idp.refreshes.values()]).toEqual(users.map(() => 1));
      expect(idp.reuse()).toBe(0);
      expect(leaks).toEqual([]);
    } finally {
      a.group.destroy();
      b.group.destroy();
    }
  });
});
