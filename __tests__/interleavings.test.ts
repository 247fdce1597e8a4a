/**
 * Interleavings an adversarial review of the state-machine core (de8c94a) found: a listener that
 * gives the user's word mid-transition, peers, failing stores, hostile coordinators. Each test
 * failed on that commit; the name says the rule.
 */
import axios from 'axios';
import {
  type Coordinator,
  createRefreshGate,
  inProcessCoordinator,
  isRefreshGateError,
  memoryStore,
  type RefreshContext,
  type Tokens,
} from '../src/index.js';
import { flush } from './helpers/deferred.js';
import { asyncStore, controlledRefresh, countingStore } from './helpers/gate-fixtures.js';
import {
  destroyAfterEach,
  fulfilled,
  mockApi,
  observe,
  rejected,
  useFakeClock,
  watchUnhandledRejections,
} from './helpers/mock-api.js';

watchUnhandledRejections();
const keep = destroyAfterEach();

const BASE = 'https://api.test';
const OLD: Tokens = { accessToken: 'A0', refreshToken: 'r0' };
const codeOf = (error: unknown) => (isRefreshGateError(error) ? error.code : String(error));

afterEach(() => {
  jest.useRealTimers();
});

describe('cooldown', () => {
  // Rule 6 (cooldown). onRefreshFailed is documented as "e.g. end the session in the UI": the
  // obvious `onRefreshFailed: () => gate.clear()` resets the state to idle, so every later 401
  // (rule 3: a request sent with no token still refreshes) starts another refresh at once.
  it('R1 keeps the cooldown when onRefreshFailed logs out with clear(): no refresh storm', async () => {
    useFakeClock();
    jest.setSystemTime(1_000_000);
    const server = mockApi({ baseURL: BASE, token: 'never' });
    const refresh = jest.fn(async (_ctx: RefreshContext): Promise<Tokens> => {
      throw new Error('invalid_grant');
    });
    const gate = keep(
      createRefreshGate({
        refresh,
        store: memoryStore(OLD),
        cooldownMs: 5_000,
        onRefreshFailed: () => {
          void gate.clear();
        },
      }),
    );
    gate.attach(server.api);

    for (let i = 0; i < 5; i++) {
      await observe(server.api.get(`/poll${i}`)).result;
      await jest.advanceTimersByTimeAsync(100);
    }
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.failures).toBe(1);
  });
});

describe('the user’s word given from inside a listener (rule 17)', () => {
  // A tokens:changed listener that logs in as a guest on logout. The listener's setTokens() is the
  // user's last word, but clear()'s store write is issued after it and lands last.
  it('R2a keeps the last word: setTokens() from a tokens:changed(null) listener during clear() (sync store)', async () => {
    const counted = countingStore(OLD);
    const gate = keep(createRefreshGate({ refresh: jest.fn(), store: counted.store }));
    const GUEST: Tokens = { accessToken: 'G1' };
    gate.on('tokens:changed', (tokens) => {
      if (tokens === null) void gate.setTokens(GUEST);
    });

    await gate.clear();
    await flush();

    expect(counted.peek()).toEqual(GUEST);
    expect(await gate.getAccessToken()).toBe('G1');
  });

  // The reverse: a tokens:changed listener that refuses a login (say, the wrong tenant) by
  // logging out. The store ends holding the refused login and, with a sync store, the gate sends it.
  it('R2b keeps the last word: clear() from a tokens:changed listener during setTokens() (sync store)', async () => {
    const server = mockApi({ baseURL: BASE, token: 'L1' });
    const counted = countingStore(OLD);
    const gate = keep(createRefreshGate({ refresh: jest.fn(), store: counted.store }));
    gate.attach(server.api);
    gate.on('tokens:changed', (tokens) => {
      if (tokens?.accessToken === 'L1') void gate.clear();
    });

    await gate.setTokens({ accessToken: 'L1' });
    await flush();
    await observe(server.api.get('/after')).result;

    expect(counted.peek()).toBeNull();
    expect(server.sentWith('L1')).toEqual([]);
  });

  // Semantics 3 / rule 17: from the moment clear() is called no request carries a token. A
  // tokens:changed listener that logs out when a refresh succeeds (a revoked role, say): the
  // refresh's held requests and getAccessToken() callers still get the refreshed token.
  it('R3 sends no held request with the refreshed token when a tokens:changed listener calls clear() as the refresh ends', async () => {
    const server = mockApi({ baseURL: BASE, token: 'A0' });
    server.route('/held', (request) => [200, { token: request.token }]);
    const control = controlledRefresh();
    const gate = keep(createRefreshGate({ refresh: control.refresh, store: memoryStore(OLD) }));
    gate.attach(server.api);
    gate.on('tokens:changed', (tokens) => {
      if (tokens?.accessToken === 'R1') void gate.clear();
    });

    const manual = observe(gate.refresh());
    await flush();
    const held = observe(server.api.get('/held'));
    const token = observe(gate.getAccessToken());
    await flush();
    control.call(0).result.resolve({ accessToken: 'R1' });
    await flush();
    await held.result;
    await manual.result;

    expect(server.sentWith('R1')).toEqual([]);
    const handedOut = await token.result;
    expect(handedOut.status === 'fulfilled' ? handedOut.value : null).not.toBe('R1');
    expect(await gate.getAccessToken()).toBeNull();
  });

  // Semantics 3: from the moment clear() is called nothing hands out the old token. clear() ends the
  // refresh first and emits refresh:failure (aborted) before it forgets the tokens: a listener that
  // asks for a token in it (to retry over fetch, say) gets the logged-out one.
  it('R4 gives a refresh:failure (aborted) listener no old token during clear()', async () => {
    const control = controlledRefresh();
    const counted = countingStore(OLD);
    const gate = keep(createRefreshGate({ refresh: control.refresh, store: counted.store }));
    let seen: Promise<string | null> | undefined;
    gate.on('refresh:failure', () => {
      seen = gate.getAccessToken();
    });

    const manual = observe(gate.refresh());
    await flush();
    await gate.clear();
    await manual.result;

    expect(seen).toBeDefined();
    expect(await seen).toBeNull();
  });
});

describe('destroy() from inside a listener (rule 13)', () => {
  // Rule 13 / semantics 1: destroy() rejects every waiter with DESTROYED. Called from a
  // refresh:success listener (the flight has ended, its waiters not yet resolved), the held
  // request still reaches the adapter and getAccessToken() resolves on the dead gate.
  it('R5 rejects the waiters of a refresh that just succeeded when a refresh:success listener destroys the gate', async () => {
    const server = mockApi({ baseURL: BASE, token: 'R1' });
    const control = controlledRefresh();
    const gate = keep(createRefreshGate({ refresh: control.refresh, store: memoryStore(OLD) }));
    gate.attach(server.api);
    gate.on('refresh:success', () => gate.destroy());

    const manual = observe(gate.refresh());
    await flush();
    const held = observe(server.api.get('/held'));
    const token = observe(gate.getAccessToken());
    await flush();
    control.call(0).result.resolve({ accessToken: 'R1' });
    await flush();
    await manual.result;

    expect(codeOf(await rejected(held))).toBe('DESTROYED');
    expect(codeOf(await rejected(token))).toBe('DESTROYED');
    expect(server.sentTo('/held')).toEqual([]);
  });

  // Semantics 1: after destroy, no event. The emitter keeps delivering the event under way to the
  // listeners after the one that destroyed the gate.
  it('R6 delivers no event to a listener after another listener of the same event destroyed the gate', async () => {
    const gate = createRefreshGate({ refresh: jest.fn(), store: memoryStore(OLD) });
    const late = jest.fn();
    gate.on('tokens:changed', () => gate.destroy());
    gate.on('tokens:changed', late);

    await gate.setTokens({ accessToken: 'L1' }).catch(() => {});

    expect(late).not.toHaveBeenCalled();
  });
});

describe('manual refresh() and an async store’s first read (semantics 9, rule 18)', () => {
  it('R7 bounds a refresh() waiting for the first read by refreshTimeoutMs, not queueTimeoutMs, and does not count it in state.waiting', async () => {
    useFakeClock();
    const shared = asyncStore(OLD, { get: 'manual' });
    const control = controlledRefresh();
    const gate = keep(
      createRefreshGate({
        refresh: control.refresh,
        store: shared.store,
        queueTimeoutMs: 100,
        refreshTimeoutMs: 10_000,
      }),
    );

    const manual = observe(gate.refresh());
    await flush();
    const waiting = gate.state.waiting;
    await jest.advanceTimersByTimeAsync(500);
    const settledEarly = manual.settled;
    await shared.drain();
    for (const call of control.calls) call.result.resolve({ accessToken: 'R1' });
    await shared.drain();

    expect(settledEarly).toBe(false);
    expect(await fulfilled(manual)).toMatchObject({ accessToken: 'R1' });
    expect(waiting).toBe(0);
  });
});

describe('hostile coordinators (rule 1)', () => {
  // Rule 1: one refresh per gate at a time. A coordinator that runs fn twice (a retry on a lost
  // connection, say) gets two calls of `refresh`: with rotation and reuse detection, a logout.
  it('R8 calls refresh once when the coordinator runs fn twice', async () => {
    const control = controlledRefresh();
    const coordinator: Coordinator = {
      runExclusive: async (fn) => {
        const first = fn();
        const second = fn();
        await Promise.allSettled([first, second]);
        return first;
      },
    };
    const gate = keep(
      createRefreshGate({ refresh: control.refresh, store: memoryStore(OLD), coordinator }),
    );

    const manual = observe(gate.refresh());
    await flush();
    for (const call of control.calls) call.result.resolve({ accessToken: 'R1' });
    await manual.result;

    expect(control.refresh).toHaveBeenCalledTimes(1);
  });

  // A coordinator that resolves without running fn leaves the gate 'refreshing' until
  // refreshTimeoutMs (forever with 0): every request is held for nothing.
  it('R9 ends the refresh when the coordinator resolves without running fn', async () => {
    const gate = keep(
      createRefreshGate({
        refresh: jest.fn(async () => 'R1'),
        store: memoryStore(OLD),
        refreshTimeoutMs: 0,
        coordinator: { runExclusive: async () => undefined as never },
      }),
    );

    const manual = observe(gate.refresh());
    await flush();

    expect(manual.settled).toBe(true);
    expect(gate.state.status).not.toBe('refreshing');
  });
});

describe('a coordinator whose runExclusive returns no promise (rule 11)', () => {
  // Flight.start() guards a runExclusive that throws, but calls `.then` on whatever it returns. A
  // coordinator written as `runExclusive: (fn) => { fn(); }` (a missing return) runs the refresh,
  // which succeeds, while the call that started it rejects with a TypeError from inside the gate.
  it('R17 hands the caller the refresh’s outcome, not a TypeError, when runExclusive returns undefined', async () => {
    const server = mockApi({ baseURL: BASE, token: 'R1' });
    const coordinator = {
      runExclusive: (fn: () => Promise<unknown>) => {
        void fn();
      },
    } as unknown as Coordinator;
    const gate = keep(
      createRefreshGate({ refresh: async () => 'R1', store: memoryStore(OLD), coordinator }),
    );
    gate.attach(server.api);

    const me = observe(server.api.get('/me')); // A0 -> 401 -> the refresh
    const outcome = await me.result;

    expect(outcome.status === 'rejected' ? String(outcome.reason) : 'fulfilled').toBe('fulfilled');
  });
});

describe('the loop guard across a shared coordinator (rule 6, semantics 8)', () => {
  // Semantics 8: the loop guard covers a token "adopted from a peer". With inProcessCoordinator a
  // waiting member always adopts through the peer's announcement (it is heard before the lock is
  // released), and `heard` marks the token not young first: the adopted token is never guarded.
  it('R10 hands the caller the 401 of a token adopted from a peer moments ago instead of refreshing again', async () => {
    useFakeClock();
    jest.setSystemTime(1_000_000);
    const coordinator = inProcessCoordinator();
    const store = memoryStore(OLD);
    const a = controlledRefresh();
    const b = controlledRefresh();
    const serverA = mockApi({ baseURL: BASE, token: 'refuses-everything' });
    const serverB = mockApi({ baseURL: BASE, token: 'refuses-everything' });
    const gateA = keep(createRefreshGate({ refresh: a.refresh, store, coordinator }));
    const gateB = keep(createRefreshGate({ refresh: b.refresh, store, coordinator }));
    gateA.attach(serverA.api);
    gateB.attach(serverB.api);

    const first = observe(serverA.api.get('/a')); // A0 -> 401 -> A refreshes (holds the lock)
    await flush();
    const second = observe(serverB.api.get('/b')); // A0 -> 401 -> B waits for the lock
    await flush();
    expect(a.refresh).toHaveBeenCalledTimes(1);
    a.call(0).result.resolve({ accessToken: 'R1', refreshToken: 'r1' });
    await flush();
    await first.result;
    await second.result; // B adopted R1; its replay got a 401 (maxReplays spent)
    expect(b.refresh).not.toHaveBeenCalled();

    // B's next request on R1, 100 ms later: R1 was just obtained (by the peer) and never accepted.
    await jest.advanceTimersByTimeAsync(100);
    const third = observe(serverB.api.get('/c'));
    await flush();
    const refreshedAgain = b.refresh.mock.calls.length;
    for (const call of b.calls) call.result.resolve({ accessToken: 'R2' });
    const error = await rejected(third);

    expect(refreshedAgain).toBe(0);
    expect(axios.isAxiosError(error) && error.response?.status).toBe(401);
  });
});

describe('a store write that fails (rule 17)', () => {
  // Rule 17: no refresh begun after clear() can restore the session; semantics 3: a refresh begun
  // after clear() gets ctx.tokens === null, never the old refresh token. An async store whose
  // clear() rejects (Redis reconnecting) still holds A0; the double-check under the lock then
  // adopts A0 and replays the request with the logged-out token.
  it('R11 does not bring the session back through the double-check after an async store.clear() failed', async () => {
    const server = mockApi({ baseURL: BASE, token: 'A0' });
    const refresh = jest.fn(async (_ctx: RefreshContext) => ({ accessToken: 'C1' }));
    const shared = asyncStore(OLD, { clear: 'manual' });
    const gate = keep(createRefreshGate({ refresh, store: shared.store }));
    gate.attach(server.api);
    expect(await gate.getAccessToken()).toBe('A0'); // read and cached

    const cleared = observe(gate.clear());
    shared.pending('clear')[0]?.fail(new Error('store unreachable'));
    await rejected(cleared);
    expect(await gate.getAccessToken()).toBeNull();

    await observe(server.api.get('/me')).result; // no token -> 401 -> refresh (rule 3)
    await flush();

    expect(server.sentWith('A0')).toEqual([]);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(refresh.mock.calls[0]?.[0].tokens).toBeNull();
  });
});

describe('announcements heard while the gate’s own word is being written (rule 17)', () => {
  // Two gates on one async store and one scope. A logs in while B logs out right after; the store
  // applies A's set, then B's clear, and ends null. But B hears A's announcement (sent once A's
  // write landed, before B's own) and takes it over its own, later word: B sends the login.
  it('R12 keeps a gate logged out when it hears an older announcement while its own clear() is being written', async () => {
    const server = mockApi({ baseURL: BASE, token: 'L1' });
    const shared = asyncStore(OLD, { set: 'manual', clear: 'manual' });
    const coordinator = inProcessCoordinator();
    const gateA = keep(createRefreshGate({ refresh: jest.fn(), store: shared.store, coordinator }));
    const gateB = keep(createRefreshGate({ refresh: jest.fn(), store: shared.store, coordinator }));
    gateB.attach(server.api);

    const login = observe(gateA.setTokens({ accessToken: 'L1' }));
    const logout = observe(gateB.clear());
    await shared.drain();
    await fulfilled(login);
    await fulfilled(logout);

    expect(shared.peek()).toBeNull();
    expect(await gateB.getAccessToken()).toBeNull();
    await observe(server.api.get('/after')).result;
    expect(server.sentWith('L1')).toEqual([]);
  });
});

describe('a refresh that hands back the same token (rule 6)', () => {
  // Rule 6: a server that refuses every token must not cause a refresh loop. When the refresh
  // returns the access token it already had (an auth server that caches issued tokens), obtained()
  // returns early: the token keeps the age of its first arrival, so every request refreshes.
  it('R13 runs one refresh, not one per request, when the refresh keeps returning the token the server refuses', async () => {
    useFakeClock();
    jest.setSystemTime(1_000_000);
    const server = mockApi({ baseURL: BASE, token: 'T' });
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'T');
    const gate = keep(createRefreshGate({ refresh, store: memoryStore({ accessToken: 'T' }) }));
    gate.attach(server.api);
    // A refresh gives T; no request uses it for a while. Then the server refuses T, and the refresh
    // endpoint still hands out T.
    await gate.refresh();
    await jest.advanceTimersByTimeAsync(10_000);
    server.token = 'revoked';

    for (let i = 0; i < 5; i++) {
      await observe(server.api.get(`/r${i}`)).result;
      await jest.advanceTimersByTimeAsync(100);
    }

    expect(refresh.mock.calls.length - 1).toBeLessThanOrEqual(1);
  });
});

describe('a peer’s logout during a refresh (rule 17)', () => {
  // Rule 17: no refresh begun before clear() can restore a session; the transition table says a
  // logout from the scope ends a flight "as clear() would". But a peer's clear() is announced only
  // once its store write has settled: a refresh that resolves meanwhile queues its write behind the
  // logout, and the store ends holding the refreshed session.
  it('R14 leaves the shared async store empty when a peer logs out while this gate’s refresh is running', async () => {
    const shared = asyncStore(OLD, { set: 'manual', clear: 'manual' });
    const coordinator = inProcessCoordinator();
    const control = controlledRefresh();
    const gateA = keep(
      createRefreshGate({ refresh: control.refresh, store: shared.store, coordinator }),
    );
    const gateB = keep(createRefreshGate({ refresh: jest.fn(), store: shared.store, coordinator }));
    expect(await gateB.getAccessToken()).toBe('A0');

    const manual = observe(gateA.refresh());
    await shared.drain();
    expect(control.refresh).toHaveBeenCalledTimes(1);

    const logout = observe(gateB.clear()); // B's store.clear() is under way
    control.call(0).result.resolve({ accessToken: 'R1', refreshToken: 'r1' });
    await flush();
    await shared.drain();
    await fulfilled(logout);
    await manual.result;

    expect(shared.peek()).toBeNull();
    expect(await gateA.getAccessToken()).toBeNull();
  });
});

describe('a call begun in the tick clear() ran in (semantics 3, rule 17)', () => {
  // getAccessToken() reads the token, then awaits once (even a sync read is awaited) and hands out
  // what it read before the await: a clear() in between does not stop it handing out the old token,
  // which the caller then puts on a fetch or a WebSocket after the logout.
  it('R15 does not hand out the old token from a getAccessToken() begun in the same tick as clear()', async () => {
    const counted = countingStore(OLD);
    const gate = keep(createRefreshGate({ refresh: jest.fn(), store: counted.store }));

    const token = observe(gate.getAccessToken());
    const cleared = observe(gate.clear());
    await fulfilled(cleared);
    const outcome = await token.result;

    expect(outcome.status === 'fulfilled' ? outcome.value : null).not.toBe('A0');
  });
});

describe('a logout heard while the store still lags (rule 17)', () => {
  // The token cache serves tokens heard from the scope while a store shared through a channel of
  // its own (localStorage across tabs) still shows the ones before them. A logout (null) is left
  // out of that rule: the tab that heard it reads the lagging store and goes on sending the old token.
  it('R16 sends no request with the old token after hearing a peer’s logout while its view of the store still shows it', async () => {
    const server = mockApi({ baseURL: BASE, token: 'A0' });
    server.route('/after', (request) => [200, { token: request.token }]);
    const views: Array<Tokens | null> = [OLD, OLD];
    const view = (i: number) => ({
      get: () => views[i] ?? null,
      set: (tokens: Tokens) => {
        views[i] = tokens;
      },
      clear: () => {
        views[i] = null;
      },
    });
    const coordinator = inProcessCoordinator();
    const one = keep(createRefreshGate({ refresh: jest.fn(), store: view(0), coordinator }));
    const two = keep(createRefreshGate({ refresh: jest.fn(), store: view(1), coordinator }));
    two.attach(server.api);

    await one.clear(); // announced to the scope; tab two's view has not caught up yet
    expect(views[1]).toBe(OLD);
    await observe(server.api.get('/after')).result;

    expect(server.sentTo('/after').map((request) => request.token)).toEqual([null]);
    expect(await two.getAccessToken()).toBeNull();
  });
});
