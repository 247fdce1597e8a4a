/**
 * Interleavings a second adversarial review found (after a4f0f52): a refresh that times out while
 * storing, a store that echoes the gate's own write, peers that give their word while this gate
 * publishes, stores that lag or refuse a write. Each test failed on ef8c8c9; its name says the rule.
 */
import Redis from 'ioredis';
import {
  createRefreshGate,
  inProcessCoordinator,
  isRefreshGateError,
  memoryStore,
  type RefreshContext,
  type TokenStore,
  type Tokens,
} from '../src/index.js';
import { redisCoordinator, redisStore } from '../src/redis/index.js';
import { deferred, flush } from './helpers/deferred.js';
import { asyncStore, controlledRefresh } from './helpers/gate-fixtures.js';
import {
  destroyAfterEach,
  fulfilled,
  mockApi,
  observe,
  rejected,
  useFakeClock,
  watchUnhandledRejections,
} from './helpers/mock-api.js';
import { closeClient, type RedisServer, startRedisServer } from './helpers/redis-server.js';

watchUnhandledRejections();
const keep = destroyAfterEach();

const BASE = 'https://api.test';
const OLD: Tokens = { accessToken: 'A0', refreshToken: 'r0' };
const codeOf = (error: unknown) => (isRefreshGateError(error) ? error.code : String(error));

afterEach(() => {
  jest.useRealTimers();
});

describe('a refresh that times out while its store write is under way (rule 1, redis adapter)', () => {
  // The refresh rotated r0 -> r1 and its write to the shared (async) store is slow (Redis with the
  // offline queue). refreshTimeoutMs fires: the flight fails, its ctx.signal aborts, and the
  // coordinator releases the lock on that abort, while the write is still under way. The peer takes
  // the lock, double-checks a store that still shows A0, and refreshes with the rotated-out r0: two
  // rotations (with reuse detection, the session ends). storedLate then publishes R1 on top.
  it('D1 lets no peer refresh with the refresh token the timed-out flight already rotated', async () => {
    useFakeClock();
    const shared = asyncStore(OLD, { set: 'manual' });
    const coordinator = inProcessCoordinator();
    const a = controlledRefresh();
    const b = controlledRefresh();
    const serverB = mockApi({ baseURL: BASE, token: 'R1' });
    const gateA = keep(
      createRefreshGate({
        refresh: a.refresh,
        store: shared.store,
        coordinator,
        refreshTimeoutMs: 1_000,
      }),
    );
    const gateB = keep(
      createRefreshGate({
        refresh: b.refresh,
        store: shared.store,
        coordinator,
        refreshTimeoutMs: 1_000,
      }),
    );
    gateB.attach(serverB.api);
    expect(await gateB.getAccessToken()).toBe('A0');

    const manual = observe(gateA.refresh());
    await flush();
    a.call(0).result.resolve({ accessToken: 'R1', refreshToken: 'r1' }); // the server rotated r0
    await flush();
    expect(shared.pending('set')).toHaveLength(1); // the write of R1 is under way
    await jest.advanceTimersByTimeAsync(1_000); // refreshTimeoutMs
    expect(codeOf(await rejected(manual))).toBe('REFRESH_TIMEOUT');

    // B's request with A0 gets a 401: B refreshes under the lock A no longer holds.
    const me = observe(serverB.api.get('/me'));
    await flush();
    const refreshTokensB = b.calls.map((call) => call.ctx.tokens?.refreshToken);
    shared.releaseAll();
    await flush();
    for (const call of b.calls) call.result.resolve({ accessToken: 'R2', refreshToken: 'r2' });
    await flush();
    await me.result;

    expect(refreshTokensB).not.toContain('r0');
  });
});

describe('D1 against a real redis-server (redisCoordinator + redisStore)', () => {
  let redis: RedisServer;
  const clients: Redis[] = [];
  const coordinators: Array<{ dispose?(): void }> = [];
  const connect = () => {
    const client = new Redis(redis.port, '127.0.0.1', { disconnectTimeout: 200 });
    client.on('error', () => {});
    clients.push(client);
    return client;
  };
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    for (const coordinator of coordinators) coordinator.dispose?.();
    await Promise.all(clients.map((client) => closeClient(client)));
    await redis?.close();
  });

  // Process A's write of the rotated tokens is slow (a command in ioredis' offline queue during a
  // reconnect, as the README describes). A's refreshTimeoutMs fires, its signal aborts and the
  // Redis lock is released; process B takes it, reads the key (still A0) and presents r0, which the
  // provider already rotated for A: reuse detection revokes the family.
  it('D1r lets no other process refresh with the refresh token a timed-out holder already rotated', async () => {
    const key = 'review2:d1r';
    const one = connect();
    const two = connect();
    await redisStore({ client: one, key }).set(OLD);
    const slow = deferred<void>();
    const storeA = redisStore({ client: one, key });
    const slowStoreA: TokenStore = {
      get: () => storeA.get(),
      set: async (tokens) => {
        await slow.promise;
        await storeA.set(tokens);
      },
      clear: () => storeA.clear(),
      subscribe: (listener) => storeA.subscribe?.(listener) ?? (() => {}),
    };
    const rotatedFor: Array<string | undefined> = [];
    const coordinatorA = redisCoordinator({ client: one, key });
    const coordinatorB = redisCoordinator({ client: two, key });
    coordinators.push(coordinatorA, coordinatorB);
    const gateA = keep(
      createRefreshGate({
        refresh: async (ctx) => {
          rotatedFor.push(ctx.tokens?.refreshToken);
          return { accessToken: 'R1', refreshToken: 'r1' };
        },
        store: slowStoreA,
        coordinator: coordinatorA,
        refreshTimeoutMs: 300,
      }),
    );
    const gateB = keep(
      createRefreshGate({
        refresh: async (ctx) => {
          rotatedFor.push(ctx.tokens?.refreshToken);
          return { accessToken: 'R2', refreshToken: 'r2' };
        },
        store: redisStore({ client: two, key }),
        coordinator: coordinatorB,
        refreshTimeoutMs: 2_000,
      }),
    );

    expect(codeOf(await rejected(observe(gateA.refresh())))).toBe('REFRESH_TIMEOUT');
    // B waits for the lock A keeps while its write is under way (for one more refreshTimeoutMs
    // at most); the write lands meanwhile, and B finds R1 under the lock.
    const refreshB = observe(gateB.refresh());
    await new Promise((resolve) => setTimeout(resolve, 100));
    slow.resolve();
    await refreshB.result;

    expect(rotatedFor).toEqual(['r0']);
  }, 10_000);
});

describe('a sync store after one failed write (token cache: "a synchronous store is the truth")', () => {
  /** A synchronous store (a Redux slice, say) that other code writes too; `failNext` makes one write throw. */
  function reduxLikeStore(initial: Tokens | null) {
    let tokens = initial;
    const control = { failNext: false };
    const store: TokenStore = {
      get: () => tokens,
      set: (next) => {
        if (control.failNext) {
          control.failNext = false;
          throw new Error('QuotaExceededError');
        }
        tokens = next;
      },
      clear: () => {
        tokens = null;
      },
    };
    return { store, control, write: (next: Tokens | null) => (tokens = next) };
  }

  // The refresh's store write fails once (the gate keeps A0: rule 5, tokens left as they were).
  // From then on the cache is `#behind` and never reads the store again until one of its own
  // writes succeeds: the app's own login, written to the store by other code, is never sent.
  it('D2 follows a sync store that other code writes after the gate’s write failed once', async () => {
    const redux = reduxLikeStore(OLD);
    const refresh = jest.fn(async () => ({ accessToken: 'R1', refreshToken: 'r1' }));
    const gate = keep(createRefreshGate({ refresh, store: redux.store }));
    redux.control.failNext = true;
    await rejected(observe(gate.refresh()));
    expect(await gate.getAccessToken()).toBe('A0');

    redux.write({ accessToken: 'L2', refreshToken: 'rL2' }); // a login by other code

    expect(await gate.getAccessToken()).toBe('L2');
  });

  // The same with a logout by other code: the gate keeps sending the token the app removed.
  it('D2b stops sending the old token when other code clears the sync store after a failed write', async () => {
    const server = mockApi({ baseURL: BASE, token: 'L1' });
    const redux = reduxLikeStore(OLD);
    const gate = keep(createRefreshGate({ refresh: jest.fn(), store: redux.store }));
    gate.attach(server.api);
    redux.control.failNext = true;
    await rejected(observe(gate.setTokens({ accessToken: 'L1' }))); // the gate is on L1 (its word)

    redux.write(null); // the app logs out by clearing its store
    await observe(server.api.get('/after')).result;

    expect(server.sentWith('L1')).toEqual([]);
  });
});

describe('a sync store whose subscribe also reports the gate’s own writes (a Redux/zustand adapter)', () => {
  function notifyingStore(initial: Tokens | null) {
    let tokens = initial;
    const listeners = new Set<(tokens: Tokens | null) => void>();
    const notify = () => {
      for (const listener of [...listeners]) listener(tokens);
    };
    const store: TokenStore = {
      get: () => tokens,
      set: (next) => {
        tokens = next;
        notify();
      },
      clear: () => {
        tokens = null;
        notify();
      },
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    return store;
  }

  // The store's synchronous notification of the flight's own write is heard as a peer's tokens:
  // the flight ends 'adopted' before it ends 'refreshed', so state.refreshes stays 0,
  // refresh:success says refreshed: false, and the scope is never told (the publish is skipped).
  it('D3 counts and publishes its own refresh when the store echoes the write synchronously', async () => {
    const published: Array<Tokens | null> = [];
    const inner = inProcessCoordinator();
    const gate = keep(
      createRefreshGate({
        refresh: async () => ({ accessToken: 'R1', refreshToken: 'r1' }),
        store: notifyingStore(OLD),
        coordinator: {
          runExclusive: (fn, opts) => inner.runExclusive(fn, opts),
          publish: (tokens) => {
            published.push(tokens);
          },
        },
      }),
    );
    const successes: unknown[] = [];
    gate.on('refresh:success', (payload) => successes.push(payload));

    await gate.refresh();

    expect({
      refreshes: gate.state.refreshes,
      successes,
      published: published.map((tokens) => tokens?.accessToken),
    }).toEqual({
      refreshes: 1,
      successes: [{ reason: 'manual', refreshed: true }],
      published: ['R1'],
    });
  });
});

describe('tokens heard while a tab’s view of a shared sync store lags (token cache `#ahead`)', () => {
  /** Two tabs' views of one localStorage: a write reaches the other view when the test says. */
  function views(initial: Tokens | null) {
    const view: Array<Tokens | null> = [initial, initial];
    const storeOf = (i: number): TokenStore => ({
      get: () => view[i] ?? null,
      set: (tokens) => {
        view[i] = tokens;
      },
      clear: () => {
        view[i] = null;
      },
    });
    return { view, storeOf };
  }

  // Tab two is logged out; tab one logs in. Tab two hears L1 before its view shows it, so `null`
  // goes into the stale set. The view catches up (it shows L1: `#ahead` is kept, as "in step").
  // Then this tab's own code logs out by removing the key (no storage event in the same tab): the
  // store is the truth for a sync store, but `null` is still "stale" and the gate sends L1 forever.
  it('D4 follows the sync store again once its lagging view has caught up with what was heard', async () => {
    const server = mockApi({ baseURL: BASE, token: 'L1' });
    server.route('/after', (request) => [200, { token: request.token }]);
    const tabs = views(null);
    const coordinator = inProcessCoordinator();
    const one = keep(
      createRefreshGate({ refresh: jest.fn(), store: tabs.storeOf(0), coordinator }),
    );
    const two = keep(
      createRefreshGate({ refresh: jest.fn(), store: tabs.storeOf(1), coordinator }),
    );
    two.attach(server.api);

    await one.setTokens({ accessToken: 'L1' }); // heard by two while its view still shows null
    expect(await two.getAccessToken()).toBe('L1');
    tabs.view[1] = { accessToken: 'L1' }; // the view catches up
    expect(await two.getAccessToken()).toBe('L1');

    tabs.view[1] = null; // this tab's code removes the key: a logout the store now shows
    await observe(server.api.get('/after')).result;

    expect(server.sentTo('/after').map((request) => request.token)).toEqual([null]);
  });
});

describe('held requests resume with the gate’s token as it is then (rule 6: never sent past expiry)', () => {
  // setTokens() during a refresh ends it 'replaced'; its held requests and getAccessToken() calls
  // take the login's tokens without the freshness check every other path makes. A login whose
  // expiresAt is already past by this device's clock: a new request would refresh first (rule 6),
  // the held one goes out with the expired token, and getAccessToken() hands it out.
  it('D5 sends no held request with a token past its expiry when setTokens() replaces the refresh', async () => {
    useFakeClock();
    jest.setSystemTime(1_000_000);
    const server = mockApi({ baseURL: BASE, token: 'R2' });
    const control = controlledRefresh();
    const gate = keep(createRefreshGate({ refresh: control.refresh, store: memoryStore(OLD) }));
    gate.attach(server.api);

    const manual = observe(gate.refresh());
    await flush();
    const held = observe(server.api.get('/held'));
    const token = observe(gate.getAccessToken());
    await flush();
    const expired: Tokens = { accessToken: 'L1', refreshToken: 'rL', expiresAt: 999_000 };
    await gate.setTokens(expired);
    await flush();
    for (const call of control.calls.slice(1))
      call.result.resolve({ accessToken: 'R2', refreshToken: 'r2' });
    await flush();
    await manual.result;
    await held.result;

    expect(server.sentWith('L1')).toEqual([]);
    expect(await fulfilled(token)).not.toBe('L1');
  });
});

describe('a peer’s word given while this gate is publishing (rule 17)', () => {
  // `#publishing` is a flag for "this is my own announcement echoed back by an in-process scope",
  // but it is set for the whole synchronous publish: a word a peer gives from inside its own
  // listener while hearing this gate (a tokens:changed listener that logs in as a guest on logout,
  // or logs out when a refreshed role is wrong) reaches this gate during that window and is dropped.
  // With an async store the gate never reads the store again: it stays on its own word while the
  // store and the peer moved on.
  it('D7a hears a peer’s setTokens() given from the peer’s tokens:changed(null) listener during this gate’s clear()', async () => {
    const shared = asyncStore(OLD);
    const coordinator = inProcessCoordinator();
    const gateA = keep(createRefreshGate({ refresh: jest.fn(), store: shared.store, coordinator }));
    const gateB = keep(createRefreshGate({ refresh: jest.fn(), store: shared.store, coordinator }));
    expect(await gateA.getAccessToken()).toBe('A0');
    expect(await gateB.getAccessToken()).toBe('A0');
    gateB.on('tokens:changed', (tokens) => {
      if (tokens === null) void gateB.setTokens({ accessToken: 'G1' }); // guest session
    });

    await gateA.clear();
    await flush();

    expect(shared.peek()?.accessToken).toBe('G1');
    expect(await gateB.getAccessToken()).toBe('G1');
    expect(await gateA.getAccessToken()).toBe('G1');
  });

  it('D7b logs this gate out when a peer’s tokens:changed listener calls clear() on hearing this gate’s refresh', async () => {
    const server = mockApi({ baseURL: BASE, token: 'R1' });
    server.route('/after', (request) => [200, { token: request.token }]);
    const shared = asyncStore(OLD);
    const coordinator = inProcessCoordinator();
    const gateA = keep(
      createRefreshGate({
        refresh: async () => ({ accessToken: 'R1', refreshToken: 'r1' }),
        store: shared.store,
        coordinator,
      }),
    );
    const gateB = keep(createRefreshGate({ refresh: jest.fn(), store: shared.store, coordinator }));
    gateA.attach(server.api);
    expect(await gateB.getAccessToken()).toBe('A0');
    // B's app decides the refreshed session is not acceptable (a revoked role, say) and logs out.
    gateB.on('tokens:changed', (tokens) => {
      if (tokens?.accessToken === 'R1') void gateB.clear();
    });

    await gateA.refresh();
    await flush();
    await observe(server.api.get('/after')).result;

    expect(shared.peek()).toBeNull();
    expect(server.sentTo('/after').map((request) => request.token)).toEqual([null]);
  });
});

describe('a refresh’s announcement after a listener’s later word (rule 17)', () => {
  // setTokens() and clear() tell the scope before their events run, but a refresh that ends
  // 'refreshed' publishes only after its refresh:success and tokens:changed listeners ran. A
  // tokens:changed listener that logs out on the refreshed session (the R3 case: a revoked role)
  // tells the scope "logged out", and then the flight tells it "R1": the peer takes R1 over the
  // later logout, and its lagging-store rule (null is "stale" now) keeps it there even though the
  // shared sync store shows null.
  it('D8 keeps a peer logged out when a tokens:changed listener clears the session the refresh just obtained', async () => {
    const server = mockApi({ baseURL: BASE, token: 'R1' });
    server.route('/peer', (request) => [200, { token: request.token }]);
    const store = memoryStore(OLD);
    const coordinator = inProcessCoordinator();
    const gateA = keep(
      createRefreshGate({
        refresh: async () => ({ accessToken: 'R1', refreshToken: 'r1' }),
        store,
        coordinator,
      }),
    );
    const gateB = keep(createRefreshGate({ refresh: jest.fn(), store, coordinator }));
    gateB.attach(server.api);
    gateA.on('tokens:changed', (tokens) => {
      if (tokens?.accessToken === 'R1') void gateA.clear();
    });

    await gateA.refresh();
    await flush();
    await observe(server.api.get('/peer')).result;

    expect(store.get()).toBeNull();
    expect(server.sentTo('/peer').map((request) => request.token)).toEqual([null]);
    expect(await gateB.getAccessToken()).toBeNull();
  });
});

describe('nothing after destroy() (rule 13, semantics 1)', () => {
  // The flight publishes after its end transition returns; a refresh:success (or tokens:changed)
  // listener that destroys the gate runs inside that transition, so the dead gate still tells the
  // scope. The tokens are stored, so a peer may well want them, but semantics 1 says no publish
  // after destroy (and with an owned coordinator, it publishes on a disposed one).
  it('D9 publishes nothing after a refresh:success listener destroyed the gate', async () => {
    const inner = inProcessCoordinator();
    const events: string[] = [];
    const gate = createRefreshGate({
      refresh: async () => ({ accessToken: 'R1', refreshToken: 'r1' }),
      store: memoryStore(OLD),
      coordinator: {
        runExclusive: (fn, opts) => inner.runExclusive(fn, opts),
        publish: (tokens) => {
          events.push(`publish ${tokens?.accessToken ?? null}`);
        },
      },
    });
    gate.on('refresh:success', () => {
      gate.destroy();
      events.push('destroyed');
    });

    await gate.refresh().catch(() => {});
    await flush();

    expect(events.slice(events.indexOf('destroyed') + 1)).toEqual([]);
  });
});

describe('a timed-out flight’s late write after a peer’s logout (rule 17)', () => {
  // storedLate yields only to this gate's own words (`#words`); a logout heard from the scope does
  // not count. A's refresh times out while its write is under way; B logs out (heard by A at once);
  // the store applies A's write, then B's clear, and ends empty. Then storedLate runs: A takes R1,
  // publishes it, and B hears it: the whole scope is logged back in by a refresh begun before the
  // logout, while the store is empty.
  it('D11 keeps the scope logged out when a timed-out flight’s write lands after a peer’s clear()', async () => {
    useFakeClock();
    const shared = asyncStore(OLD, { set: 'manual', clear: 'manual' });
    const coordinator = inProcessCoordinator();
    const a = controlledRefresh();
    const gateA = keep(
      createRefreshGate({
        refresh: a.refresh,
        store: shared.store,
        coordinator,
        refreshTimeoutMs: 1_000,
      }),
    );
    const gateB = keep(createRefreshGate({ refresh: jest.fn(), store: shared.store, coordinator }));
    expect(await gateB.getAccessToken()).toBe('A0');

    const manual = observe(gateA.refresh());
    await flush();
    a.call(0).result.resolve({ accessToken: 'R1', refreshToken: 'r1' });
    await flush();
    await jest.advanceTimersByTimeAsync(1_000); // REFRESH_TIMEOUT, A's write still under way
    await manual.result;
    const logout = observe(gateB.clear()); // heard by A at once
    shared.release('set'); // A's write lands first...
    shared.release('clear'); // ...then B's clear: the store ends empty
    await fulfilled(logout);
    await flush();

    expect(shared.peek()).toBeNull();
    expect(await gateB.getAccessToken()).toBeNull();
    expect(await gateA.getAccessToken()).toBeNull();
  });
});

describe('manual refresh() during a cooldown (rule 6: no refresh loop)', () => {
  // Rule 6 names requests; the README's concurrency guarantees say no refresh starts for
  // cooldownMs after a failure. refresh() ignores the cooldown: a retry button, a focus handler
  // or a refresh:failure listener that calls it hits the failing endpoint again at once.
  it('D12 starts no refresh within cooldownMs of a failure when refresh() is called', async () => {
    useFakeClock();
    const failure = new Error('refresh endpoint down');
    const refresh = jest.fn(async (_ctx: RefreshContext): Promise<Tokens> => {
      throw failure;
    });
    const gate = keep(createRefreshGate({ refresh, store: memoryStore(OLD), cooldownMs: 5_000 }));
    await rejected(observe(gate.refresh()));

    const again = await rejected(observe(gate.refresh()));

    expect(refresh).toHaveBeenCalledTimes(1);
    expect(codeOf(again)).toBe('COOLDOWN');
  });
});

describe('a peer’s login and logout while this gate has never read the store (rule 17)', () => {
  // Found by deliberately breaking the core and running the model test: A logs in and out at once
  // on a shared async store; B, which never had a store answer, double-checks under the lock
  // between A's two writes and took A's login from the store although it had heard the logout.
  it('keeps a peer logged out when its check under the lock reads the login that the logout follows', async () => {
    const shared = asyncStore(null, { set: 'manual', clear: 'manual' });
    const coordinator = inProcessCoordinator();
    const control = controlledRefresh();
    const gateA = keep(
      createRefreshGate({ refresh: control.refresh, store: shared.store, coordinator }),
    );
    const gateB = keep(
      createRefreshGate({ refresh: control.refresh, store: shared.store, coordinator }),
    );

    const login = observe(gateA.setTokens({ accessToken: 'L1', refreshToken: 'l1' }));
    const logout = observe(gateA.clear());
    shared.release('set'); // the login lands; the logout is still on its way
    const manual = observe(gateB.refresh());
    await flush();
    shared.release('clear');
    await shared.drain();
    await flush();

    await login.result;
    await logout.result;
    expect(shared.peek()).toBeNull();
    // B refreshed (or not) from a logged-out state: it never took L1 from the store.
    for (const call of control.calls) expect(call.ctx.tokens).toBeNull();
    for (const call of control.calls) call.result.reject(new Error('no session'));
    await manual.result;
    expect(await gateB.getAccessToken()).toBeNull();
  });
});

describe('a logout whose write to an async store fails (rule 17)', () => {
  // Found by the model test's storeWriteFails(): the gate had never read the async store, so it
  // did not know what the store showed; the refresh's check under the lock then took A0 from the
  // store that refused the logout, and a request made in clear()'s tick was replayed with it.
  it('never brings the old session back from a store that refused clear()', async () => {
    const shared = asyncStore(OLD, { clear: 'manual' });
    const server = mockApi({ baseURL: BASE, token: 'R1' });
    const control = controlledRefresh();
    const gate = keep(createRefreshGate({ refresh: control.refresh, store: shared.store }));
    gate.attach(server.api);

    const request = observe(server.api.get('/x')); // made in the tick clear() runs in
    const logout = observe(gate.clear());
    const [write] = shared.pending('clear');
    write?.fail(new Error('disk full'));
    await flush();

    await rejected(logout);
    // The 401 of the request sent with no token starts a refresh (rule 3), from nothing.
    for (const call of control.calls) expect(call.ctx.tokens).toBeNull();
    for (const call of control.calls) call.result.reject(new Error('no session'));
    await request.result;
    expect(server.sent.map((sent) => sent.token)).not.toContain('A0');
    expect(await gate.getAccessToken()).toBeNull();
  });
});
