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
import { httpError } from './helpers/retry-fixtures.js';

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

it('property: over random interleavings of users, expiries, evictions and parking, no request carries another key', async () => {
  const user = fc.constantFrom('ann', 'ben', 'cid', 'dee');
  const command = fc.oneof(
    fc.record({ kind: fc.constant('request' as const), user, n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('expire' as const), user }),
    fc.record({ kind: fc.constant('login' as const), user }),
    fc.record({ kind: fc.constant('logout' as const), user }),
    fc.record({ kind: fc.constant('delete' as const), user }),
    // Time passes: unused gates park (10 s), and their next use makes a new machine.
    fc.record({ kind: fc.constant('idle' as const) }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(command, { minLength: 1, maxLength: 25 }),
      fc.integer({ min: 1, max: 3 }),
      fc.scheduler(),
      async (commands, maxGates, s) => {
        jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
        const w = world({ maxGates });
        const pending: Array<Promise<unknown>> = [];
        for (const c of commands) {
          if (c.kind === 'idle')
            pending.push(
              s.schedule(Promise.resolve()).then(() => jest.advanceTimersByTimeAsync(16_000)),
            );
          else if (c.kind === 'request') {
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
          else if (c.kind === 'delete')
            pending.push(s.schedule(Promise.resolve()).then(() => w.group.delete(c.user)));
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

/*
 * Parking: a gate unused for 10 s with nothing under way gives up its machine and keeps its key,
 * store and counters; its next use makes the machine again. What it must not lose: the counters,
 * the session a request still out was sent in, the window of a short-lived token, the key's own
 * lock, and the handle an app kept.
 */
describe('parking an idle gate', () => {
  const fakeTime = () =>
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  const PARKED = 16_000;

  /**
   * How many machines have judged a token: each decodes a token's expiry once, so a parked gate's
   * next machine decodes it again, and a gate that did not park does not.
   */
  const decoding = () => {
    let decoded = 0;
    return {
      getExpiry: () => {
        decoded++;
        return undefined;
      },
      decoded: () => decoded,
    };
  };

  it('parks after 10 s unused and comes back on use with its counters, tokens and handle', async () => {
    fakeTime();
    const { getExpiry, decoded } = decoding();
    const { group, login, expire, get, refreshes } = world({ getExpiry });
    const handle = group.forKey('pia');
    await login('pia');
    expire('pia');
    await get('pia');
    expect(handle.state).toMatchObject({ refreshes: 1, signedIn: true });
    await get('pia');
    const before = decoded();
    await jest.advanceTimersByTimeAsync(9_000);
    await get('pia');
    // Used within 10 s: the same machine.
    expect(decoded()).toBe(before);
    await jest.advanceTimersByTimeAsync(PARKED);
    expect(group.size).toBe(1);
    // The kept handle finds the next machine, which goes on from the counters.
    expect(handle.state).toMatchObject({ refreshes: 1, failures: 0, signedIn: true });
    expect(group.forKey('pia')).toBe(handle);
    await expect(get('pia')).resolves.toMatchObject({ data: { user: 'pia' } });
    expect(decoded()).toBe(before + 1);
    expect(refreshes).toEqual(['pia']);
    await jest.advanceTimersByTimeAsync(PARKED);
    await handle.clear();
    expect(group.forKey('pia').state.signedIn).toBe(false);
  });

  it('parks a gate that hears its scope (a store with subscribe) too, which listens on its behalf', async () => {
    fakeTime();
    const { getExpiry, decoded } = decoding();
    let listeners = 0;
    const store = {
      ...memoryStore(),
      subscribe: () => {
        listeners++;
        return () => {
          listeners--;
        };
      },
    } satisfies TokenStore;
    const { group, login, get } = world({ getExpiry, store: () => store });
    await login('pip');
    await get('pip');
    const before = decoded();
    await jest.advanceTimersByTimeAsync(PARKED);
    // One listener all along: the machine's, then the parked gate's, then the next machine's.
    expect(listeners).toBe(1);
    await get('pip');
    expect(decoded()).toBe(before + 1);
    expect(listeners).toBe(1);
    group.delete('pip');
    await jest.advanceTimersByTimeAsync(0);
    expect(listeners).toBe(0);
    await jest.advanceTimersByTimeAsync(PARKED);
    group.forKey('pip');
    await jest.advanceTimersByTimeAsync(PARKED);
    group.delete('pip');
    expect(listeners).toBe(0);
  });

  it('a 401 that comes back after the gate parked refreshes once; one sent before a logout does not', async () => {
    fakeTime();
    const { api, group, login, expire, refreshes, current } = world();
    await login('quin');
    const answers: Array<() => void> = [];
    // The server answers these two only when told to, with a 401; their replays at once, as the
    // server of world() would.
    const slow = (path: string) =>
      api.get(path, {
        headers: { 'x-user': 'quin' },
        adapter: async (config) => {
          if (Number((config as { refreshGateReplays?: number }).refreshGateReplays ?? 0) > 0) {
            const ok = authOf(config) === `Bearer ${current.get('quin')}`;
            return {
              status: ok ? 200 : 401,
              statusText: '',
              headers: {},
              config,
              data: { user: 'quin' },
            };
          }
          await new Promise<void>((resolve) => answers.push(resolve));
          throw httpError(401, {}, config);
        },
      });
    const first = slow('/slow').then(
      (response) => response.data.user,
      () => 'failed',
    );
    await flush();
    expire('quin');
    await jest.advanceTimersByTimeAsync(PARKED);
    // Its 401 comes to the next machine: the token it carried is the current one, so it refreshes,
    // and the replay goes through the default adapter with the new token.
    answers.shift()?.();
    await jest.advanceTimersByTimeAsync(0);
    await flush();
    expect(await first).toBe('quin');
    expect(refreshes).toEqual(['quin']);

    // A request out when the user logs out, whose 401 comes after the gate parked: not refreshed
    // for (rule 17), though a new login came meanwhile.
    const second = slow('/slow').then(
      () => 'sent',
      (error: unknown) => (axios.isAxiosError(error) ? error.response?.status : 'other'),
    );
    await flush();
    await group.forKey('quin').clear();
    await login('quin');
    await jest.advanceTimersByTimeAsync(PARKED);
    answers.shift()?.();
    await flush();
    expect(await second).toBe(401);
    expect(refreshes).toEqual(['quin']);
  });

  it("keeps a short-lived token's window: no refresh at once when the gate comes back", async () => {
    fakeTime();
    const refreshed: string[] = [];
    const { group, get, current } = world({
      refreshBeforeExpiryMs: 60_000,
      getExpiry: (tokens) => tokens.expiresAt,
      // A refresh gives 60 s tokens: refreshed halfway (30 s left), not at 60 s left (at once).
      refresh: async ({ key }) => {
        refreshed.push(String(key));
        const accessToken = `${key}.short${refreshed.length}`;
        current.set(String(key), accessToken);
        return { accessToken, refreshToken: `${key}.rt`, expiresAt: Date.now() + 60_000 };
      },
    });
    await group.forKey('ray').setTokens({ accessToken: 'ray.old', refreshToken: 'ray.rt' });
    await group.forKey('ray').refresh();
    await expect(get('ray')).resolves.toMatchObject({ data: { user: 'ray' } });
    expect(refreshed).toEqual(['ray']);
    await jest.advanceTimersByTimeAsync(PARKED);
    // 44 s left: fresh by the window of the token as it was obtained.
    await expect(get('ray')).resolves.toMatchObject({ data: { user: 'ray' } });
    expect(refreshed).toEqual(['ray']);
    await jest.advanceTimersByTimeAsync(PARKED);
    // 28 s left: due now.
    await expect(get('ray')).resolves.toMatchObject({ data: { user: 'ray' } });
    expect(refreshed).toEqual(['ray', 'ray']);
  });

  it('does not park a gate that is refreshing, has waiters or listeners', async () => {
    fakeTime();
    const held = deferred<Tokens>();
    const { getExpiry, decoded } = decoding();
    const { group, login, expire, get, refresh, current } = world({
      getExpiry,
      refreshTimeoutMs: 0,
      queueTimeoutMs: 0,
    });
    await login('sue');
    refresh.mockImplementationOnce(() => held.promise);
    expire('sue');
    const waiting = get('sue');
    await flush();
    await jest.advanceTimersByTimeAsync(PARKED * 2);
    expect(group.forKey('sue').state).toMatchObject({ status: 'refreshing', waiting: 1 });
    current.set('sue', 'sue.late');
    held.resolve({ accessToken: 'sue.late', refreshToken: 'sue.rt-late' });
    await expect(waiting).resolves.toMatchObject({ data: { user: 'sue' } });

    // A subscribe listener keeps it.
    const unsubscribe = group.forKey('sue').subscribe(() => {});
    const before = decoded();
    await jest.advanceTimersByTimeAsync(PARKED);
    await get('sue');
    expect(decoded()).toBe(before);
    unsubscribe();
    await jest.advanceTimersByTimeAsync(PARKED);
    await get('sue');
    expect(decoded()).toBe(before + 1);
  });

  it('does not park while a timed-out refresh still holds the solo lock: never two refreshes of one key at once', async () => {
    fakeTime();
    const hung = deferred<Tokens>();
    let running = 0;
    let most = 0;
    const { login, expire, get, refresh } = world({ refreshTimeoutMs: 1_000 });
    const base = refresh.getMockImplementation();
    refresh.mockImplementation(async (ctx) => {
      running++;
      most = Math.max(most, running);
      try {
        return refresh.mock.calls.length === 1 ? await hung.promise : ((await base?.(ctx)) ?? null);
      } finally {
        running--;
      }
    });
    await login('vic');
    expire('vic');
    const first = get('vic').catch((error: unknown) => error);
    await flush();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await first).toMatchObject({ code: 'REFRESH_TIMEOUT' });
    // The cooldown ends and the gate is unused, but the timed-out refresh still runs.
    await jest.advanceTimersByTimeAsync(PARKED);
    expire('vic');
    const second = get('vic').catch((error: unknown) => error);
    await flush();
    expect(refresh).toHaveBeenCalledTimes(1);
    hung.resolve({ accessToken: 'vic.late', refreshToken: 'vic.rt-late' });
    await flush();
    await second;
    expect(most).toBe(1);
    expect(refresh).toHaveBeenCalledTimes(2);
  });

  it("keeps the key's own coordinator while parked, and disposes of it once when the key leaves", async () => {
    fakeTime();
    const made: string[] = [];
    const disposed: string[] = [];
    const { group, login, get } = world({
      coordinator: (user): Coordinator => {
        made.push(user);
        return { ...inProcessCoordinator(), dispose: () => disposed.push(user) };
      },
    });
    await login('tom');
    const handle = group.forKey('tom');
    await jest.advanceTimersByTimeAsync(PARKED);
    await get('tom');
    await jest.advanceTimersByTimeAsync(PARKED);
    expect(made).toEqual(['tom']);
    expect(disposed).toEqual([]);
    group.delete('tom');
    expect(disposed).toEqual(['tom']);
    // A handle kept from before answers as a destroyed gate.
    await expect(handle.getAccessToken()).rejects.toMatchObject({ code: 'DESTROYED' });
    expect(handle.state.signedIn).toBe(false);
  });

  it("a parked key's handle destroyed leaves the group", async () => {
    fakeTime();
    const { group, login } = world();
    await login('uma');
    const handle = group.forKey('uma');
    await jest.advanceTimersByTimeAsync(PARKED);
    handle.destroy();
    expect(group.size).toBe(0);
    await expect(handle.setTokens({ accessToken: 'x' })).rejects.toMatchObject({
      code: 'DESTROYED',
    });
  });
});
