/**
 * createRefreshGateGroup (issue 15): one gate per user on one instance. Each key has its own
 * store, its own single flight and `ctx.key`; a request with no key passes untouched; the group is
 * bounded (maxGates, least recently used first, never a busy gate; idleMs); 1,000 users each with
 * 10 concurrent requests on expired tokens give exactly 1,000 refreshes, and a property test over
 * random interleavings of users, expiries and evictions: no request ever carries another key's
 * token.
 */
import axios from 'axios';
import MockAdapter from 'axios-mock-adapter';
import fc from 'fast-check';
import {
  type Coordinator,
  createRefreshGateGroup,
  inProcessCoordinator,
  isRefreshGateError,
  memoryStore,
  type RefreshContext,
  type RefreshGateGroupOptions,
  type TokenStore,
  type Tokens,
} from '../src/index.js';
import { deferred, flush } from './helpers/deferred.js';
import { authOf, track } from './helpers/gate-fixtures.js';

const groups: Array<{ destroy(): void }> = [];
afterEach(() => {
  for (const group of groups.splice(0)) group.destroy();
  jest.useRealTimers();
});

/**
 * A server for many users: each user's current access token, the user a request is for (header
 * `x-user`), and what it carried. A token of another user is a leak; a stale one of the user's
 * own gets a 401.
 */
function world(options: Partial<RefreshGateGroupOptions> = {}) {
  const current = new Map<string, string>();
  const owner = new Map<string, string>();
  const leaks: string[] = [];
  const sent: Array<{ user: string; auth: string | undefined }> = [];
  const api = axios.create({ baseURL: 'https://api.test' });
  new MockAdapter(api).onAny().reply((config) => {
    const user = String(config.headers?.['x-user'] ?? '');
    const auth = authOf(config);
    sent.push({ user, auth });
    const token = auth?.slice('Bearer '.length);
    if (token !== undefined && owner.has(token) && owner.get(token) !== user)
      leaks.push(`${user}'s request carried ${owner.get(token)}'s token ${token}`);
    return token !== undefined && current.get(user) === token ? [200, { user }] : [401, {}];
  });
  let issued = 0;
  const issue = (user: string): Tokens => {
    const accessToken = `${user}.at${++issued}`;
    current.set(user, accessToken);
    owner.set(accessToken, user);
    return { accessToken, refreshToken: `${user}.rt${issued}` };
  };
  const stores = new Map<string, TokenStore>();
  const refreshes: string[] = [];
  const refresh = jest.fn(async (ctx: RefreshContext) => {
    refreshes.push(String(ctx.key));
    // No session: nothing to refresh with.
    if (!ctx.tokens?.refreshToken) return null;
    // The refresh token must be the key's own.
    if (!ctx.tokens.refreshToken.startsWith(`${ctx.key}.`))
      leaks.push(`refresh for ${ctx.key} got ${ctx.tokens.refreshToken}`);
    await new Promise((resolve) => setImmediate(resolve));
    return issue(String(ctx.key));
  });
  const group = createRefreshGateGroup({
    key: (config) => (config.headers.get('x-user') as string | undefined) ?? undefined,
    store: (user) => {
      let store = stores.get(user);
      if (!store) {
        store = memoryStore();
        stores.set(user, store);
      }
      return store;
    },
    refresh,
    logger: { debug() {}, warn() {} },
    ...options,
  });
  groups.push(group);
  group.attach(api);
  /** A user logged in: their gate holds tokens the server takes. */
  const login = async (user: string) => group.forKey(user).setTokens(issue(user));
  /** The server rotates the user's access token: the one the gate holds is refused from now on. */
  const expire = (user: string) => {
    current.set(user, `${user}.gone${++issued}`);
  };
  const get = (user: string, path = '/me') => api.get(path, { headers: { 'x-user': user } });
  return { api, group, refresh, refreshes, leaks, sent, login, expire, get, stores, current };
}

describe('one gate per key', () => {
  it("refreshes once per user for that user's 401s, with ctx.key, and every request carries its own user's token", async () => {
    const { group, refreshes, leaks, login, expire, get } = world();
    await login('alice');
    await login('bob');
    expire('alice');
    expire('bob');
    const results = await Promise.all(
      ['alice', 'bob', 'alice', 'bob', 'alice'].map((user) => get(user)),
    );
    expect(results.map((result) => result.data.user)).toEqual([
      'alice',
      'bob',
      'alice',
      'bob',
      'alice',
    ]);
    expect(refreshes.sort()).toEqual(['alice', 'bob']);
    expect(leaks).toEqual([]);
    expect(group.size).toBe(2);
  });

  it("a request with no key passes untouched: no token, never held by anyone's refresh", async () => {
    const { api, sent, login, expire, get } = world();
    await login('alice');
    expire('alice');
    const alice = get('alice');
    const anonymous = api.get('/public').catch((error: unknown) => error);
    await anonymous;
    expect(sent.find((request) => request.user === '')?.auth).toBeUndefined();
    await alice;
  });

  it("a request's refreshGateKey overrides key(config)", async () => {
    const { api, leaks, login } = world();
    await login('carol');
    const response = await api.get('/me', {
      headers: { 'x-user': 'carol' },
      refreshGateKey: 'carol',
    });
    expect(response.data.user).toBe('carol');
    expect(leaks).toEqual([]);
  });

  it('a key that is not a string fails its request with INVALID_OPTIONS, and nothing else', async () => {
    const { api, group } = world({ key: () => 42 as unknown as string });
    const error = await api.get('/me').catch((thrown: unknown) => thrown);
    expect(isRefreshGateError(error) && error.code).toBe('INVALID_OPTIONS');
    expect(group.size).toBe(0);
  });
});

describe('bounds', () => {
  it('keeps at most maxGates, dropping the least recently used idle one, never one that is refreshing', async () => {
    const held = deferred<Tokens>();
    const { group, login, expire, get, refresh } = world({ maxGates: 2 });
    await login('a');
    await login('b');
    // a refreshes, and its refresh is held open: a is busy.
    refresh.mockImplementationOnce(() => held.promise);
    expect(group.size).toBe(2);
    expire('a');
    const request = track(get('a'));
    await flush();
    expect(group.forKey('a').state.status).toBe('refreshing');
    // c: over the bound. a was used last and is refreshing anyway: b goes.
    await login('c');
    expect(group.size).toBe(2);
    expect(group.forKey('a').state.status).toBe('refreshing');
    held.resolve({ accessToken: 'a.late', refreshToken: 'a.rt-late' });
    await flush();
    await request.promise;
  });

  it('drops a gate idle for idleMs, and lets the process exit meanwhile (the sweep timer is unref-ed)', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { group, login } = world({ idleMs: 60_000 });
    await login('dave');
    expect(group.size).toBe(1);
    await jest.advanceTimersByTimeAsync(59_000);
    expect(group.size).toBe(1);
    await jest.advanceTimersByTimeAsync(20_000);
    expect(group.size).toBe(0);
  });

  it("delete(key) rejects that key's waiters with DESTROYED; destroy() detaches and ends every gate", async () => {
    const held = deferred<Tokens>();
    const { api, group, login, expire, get, refresh, sent } = world();
    await login('erin');
    refresh.mockImplementationOnce(() => held.promise);
    expire('erin');
    const waiting = track(get('erin'));
    await flush();
    group.delete('erin');
    await waiting.promise;
    expect(isRefreshGateError(waiting.error) && waiting.error.code).toBe('DESTROYED');
    group.destroy();
    const before = sent.length;
    await api.get('/after', { headers: { 'x-user': 'erin' } }).catch(() => undefined);
    expect(sent.at(-1)?.auth).toBeUndefined();
    expect(sent.length).toBe(before + 1);
    expect(() => group.forKey('erin')).toThrow(/destroyed/);
  });
});

describe('coordinators', () => {
  it('takes one coordinator per key, and refuses a shared one: one lock for every user would be wrong', () => {
    const made: string[] = [];
    const { group } = world({
      coordinator: (user): Coordinator => {
        made.push(user);
        return inProcessCoordinator();
      },
    });
    group.forKey('frank');
    group.forKey('gina');
    expect(made).toEqual(['frank', 'gina']);
    expect(() =>
      createRefreshGateGroup({
        key: () => undefined,
        store: () => memoryStore(),
        refresh: async () => 'x',
        coordinator: inProcessCoordinator() as never,
      }),
    ).toThrow(/coordinator/);
  });
});

it('1,000 users, each firing 10 concurrent requests on an expired token: exactly 1,000 refreshes, every request with its own token', async () => {
  const { refreshes, leaks, login, expire, get, group } = world();
  const users = Array.from({ length: 1_000 }, (_, i) => `u${i}`);
  for (const user of users) await login(user);
  for (const user of users) expire(user);
  const results = await Promise.allSettled(
    users.flatMap((user) => Array.from({ length: 10 }, (_, i) => get(user, `/items/${i}`))),
  );
  expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(10_000);
  expect(refreshes).toHaveLength(1_000);
  expect(new Set(refreshes).size).toBe(1_000);
  expect(leaks).toEqual([]);
  expect(group.size).toBe(1_000);
}, 60_000);

it('property: over random interleavings of users, expiries and evictions, no request carries another key', async () => {
  const user = fc.constantFrom('ann', 'ben', 'cid', 'dee');
  const command = fc.oneof(
    fc.record({ kind: fc.constant('request' as const), user, n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('expire' as const), user }),
    fc.record({ kind: fc.constant('login' as const), user }),
    fc.record({ kind: fc.constant('logout' as const), user }),
    fc.record({ kind: fc.constant('delete' as const), user }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(command, { minLength: 1, maxLength: 25 }),
      fc.integer({ min: 1, max: 3 }),
      fc.scheduler(),
      async (commands, maxGates, s) => {
        const w = world({ maxGates });
        const pending: Array<Promise<unknown>> = [];
        for (const c of commands) {
          if (c.kind === 'request') {
            for (let i = 0; i < c.n; i++)
              pending.push(s.schedule(Promise.resolve()).then(() => w.get(c.user).catch(() => 0)));
          } else if (c.kind === 'expire') w.expire(c.user);
          else if (c.kind === 'login')
            pending.push(s.schedule(Promise.resolve()).then(() => w.login(c.user).catch(() => 0)));
          else if (c.kind === 'logout')
            pending.push(
              s.schedule(Promise.resolve()).then(() =>
                w.group
                  .forKey(c.user)
                  .clear()
                  .catch(() => 0),
              ),
            );
          else pending.push(s.schedule(Promise.resolve()).then(() => w.group.delete(c.user)));
        }
        await s.waitFor(Promise.all(pending));
        await flush();
        w.group.destroy();
        expect(w.leaks).toEqual([]);
        expect(w.group.size).toBe(0);
      },
    ),
    { numRuns: 200 },
  );
}, 60_000);

it("a key's gate destroyed through its handle leaves the group: the key's next request gets a new gate", async () => {
  const { group, login, get } = world();
  await login('zoe');
  group.forKey('zoe').destroy();
  expect(group.size).toBe(0);
  // The tokens stay in the key's store: the new gate reads them.
  await expect(get('zoe')).resolves.toMatchObject({ data: { user: 'zoe' } });
  expect(group.size).toBe(1);
});
