/**
 * Rule 17, the user's word wins: setTokens() and clear() supersede a refresh in flight from the
 * moment they are called. The refresh's late result is never stored, published or adopted, with
 * sync and async stores alike; after clear() no request carries the old token (through applyToken
 * too), and a 401 for a request sent with it neither replays it nor starts a refresh that could log
 * the user back in.
 */
import axios, { type AxiosError, type InternalAxiosRequestConfig } from 'axios';
import {
  createRefreshGate,
  inProcessCoordinator,
  type RefreshContext,
  type RefreshGate,
  type RefreshGateOptions,
  type Tokens,
} from '../../src/index.js';
import { deferred, flush } from '../helpers/deferred.js';
import {
  asyncStore,
  controlledRefresh,
  countingStore,
  recordingCoordinator,
} from '../helpers/gate-fixtures.js';
import {
  authorized,
  destroyAfterEach,
  fulfilled,
  type MockApi,
  mockApi,
  observe,
  rejected,
  watchUnhandledRejections,
} from '../helpers/mock-api.js';

const unhandled = watchUnhandledRejections();
const keep = destroyAfterEach();

const BASE = 'https://api.test';
/** The session before: the refresh in flight was started for it. */
const OLD: Tokens = { accessToken: 'A0', refreshToken: 'r0' };
/** The login (setTokens) that happens while the refresh runs. */
const LOGIN: Tokens = { accessToken: 'L1', refreshToken: 'rL' };
/** What the superseded refresh resolves to, too late. */
const LATE: Tokens = { accessToken: 'R1', refreshToken: 'rR' };

/** Every event of `gate`, in order, as `[name, payload]`. */
function recordEvents(gate: RefreshGate) {
  const seen: Array<[string, unknown]> = [];
  for (const name of [
    'refresh:start',
    'refresh:success',
    'refresh:failure',
    'request:queued',
    'request:replayed',
    'tokens:changed',
  ] as const) {
    gate.on(name, (payload) => seen.push([name, payload]));
  }
  return {
    seen,
    of: (name: string) => seen.filter(([event]) => event === name).map(([, payload]) => payload),
  };
}

/** A route whose first answer waits for `hold` and is then a 401; later calls are authorized. */
function heldUnauthorized(server: MockApi, url: string) {
  const hold = deferred<void>();
  let first = true;
  server.route(url, async (request) => {
    if (!first) return authorized(server, request);
    first = false;
    await hold.promise;
    return [401, { error: 'invalid_token', token: request.token }];
  });
  return hold;
}

describe('setTokens() during a refresh in flight', () => {
  // issue 10 item 2
  it('aborts the refresh at once; its waiters go out with the new tokens and refresh:success says replaced (sync store)', async () => {
    const server = mockApi({ baseURL: BASE, token: 'L1' });
    const control = controlledRefresh();
    const counted = countingStore(OLD);
    const gate = keep(createRefreshGate({ refresh: control.refresh, store: counted.store }));
    gate.attach(server.api);
    const events = recordEvents(gate);

    const queued = observe(server.api.get('/queued')); // A0 -> 401 -> the refresh
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    const held = observe(server.api.get('/held'));
    const token = observe(gate.getAccessToken());
    const manual = observe(gate.refresh());
    await flush();

    const login = observe(gate.setTokens(LOGIN));
    const abortedAtOnce = control.call(0).ctx.signal.aborted;
    control.call(0).result.resolve(LATE);
    await flush();

    await fulfilled(login);
    expect((await fulfilled(queued)).data).toEqual({ url: '/queued', token: 'L1' });
    expect((await fulfilled(held)).data).toEqual({ url: '/held', token: 'L1' });
    expect(await fulfilled(token)).toBe('L1');
    expect(await fulfilled(manual)).toMatchObject({ accessToken: 'L1' });
    expect(abortedAtOnce).toBe(true);
    expect(counted.peek()).toEqual(LOGIN);
    expect(counted.store.set).not.toHaveBeenCalledWith(LATE);
    expect(server.sentWith('R1')).toEqual([]);
    expect(events.of('refresh:success')).toEqual([expect.objectContaining({ replaced: true })]);
    expect(events.of('tokens:changed')).not.toContainEqual(expect.objectContaining(LATE));
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('wins over a refresh result that lands in the same tick: the store keeps the login, nothing publishes the late tokens, and the next refresh gets the login refresh token (sync store)', async () => {
    const server = mockApi({ baseURL: BASE, token: 'L1' });
    const control = controlledRefresh();
    const counted = countingStore(OLD);
    const { coordinator, published } = recordingCoordinator(inProcessCoordinator());
    const gate = keep(
      createRefreshGate({ refresh: control.refresh, store: counted.store, coordinator }),
    );
    gate.attach(server.api);

    const manual = observe(gate.refresh());
    await flush();
    // The refresh's answer arrives, and before the gate has seen it the user logs in.
    control.call(0).result.resolve(LATE);
    const login = observe(gate.setTokens(LOGIN));
    await flush();

    await fulfilled(login);
    expect(await fulfilled(manual)).toMatchObject({ accessToken: 'L1' });
    expect(counted.peek()).toEqual(LOGIN);
    expect(counted.store.set).not.toHaveBeenCalledWith(LATE);
    expect(published).not.toContainEqual(LATE);
    expect(await gate.getAccessToken()).toBe('L1');

    // The next triggering response refreshes with the login's refresh token, not the superseded one.
    server.token = 'L2';
    const later = observe(server.api.get('/later'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(2);
    expect(control.call(1).ctx.tokens).toEqual(LOGIN);
    control.call(1).result.resolve({ accessToken: 'L2', refreshToken: 'rL2' });
    expect((await fulfilled(later)).data).toEqual({ url: '/later', token: 'L2' });
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
  });

  it('wins over a refresh result that arrives while the async store is still writing the login: the late result is never written, published or adopted', async () => {
    const server = mockApi({ baseURL: BASE, token: 'L1' });
    const control = controlledRefresh();
    const shared = asyncStore(OLD, { set: 'manual' });
    const { coordinator, published } = recordingCoordinator(inProcessCoordinator());
    const gate = keep(
      createRefreshGate({ refresh: control.refresh, store: shared.store, coordinator }),
    );
    // Another gate on the same store and scope (another tab or process of the same user).
    const peer = keep(
      createRefreshGate({
        refresh: jest.fn(async (_ctx: RefreshContext) => 'peer-refreshed'),
        store: shared.store,
        coordinator,
      }),
    );
    gate.attach(server.api);
    const events = recordEvents(gate);
    const peerEvents = recordEvents(peer);

    // Sent with A0 before the refresh starts; its 401 comes back only after the login.
    const slowHold = heldUnauthorized(server, '/slow');
    const slow = observe(server.api.get('/slow'));
    await flush();
    const queued = observe(server.api.get('/queued')); // A0 -> 401 -> the refresh
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    const token = observe(gate.getAccessToken());
    await flush();

    const login = observe(gate.setTokens(LOGIN)); // its store write is under way
    const abortedAtOnce = control.call(0).ctx.signal.aborted;
    control.call(0).result.resolve(LATE);
    await flush();
    expect(shared.store.set).not.toHaveBeenCalledWith(LATE);

    await shared.drain();
    await fulfilled(login);
    expect(shared.peek()).toEqual(LOGIN);
    expect(shared.store.set).not.toHaveBeenCalledWith(LATE);
    expect(published).not.toContainEqual(LATE);
    expect(await fulfilled(token)).toBe('L1');
    expect((await fulfilled(queued)).data).toEqual({ url: '/queued', token: 'L1' });
    expect(abortedAtOnce).toBe(true);
    expect(events.of('refresh:success')).toEqual([expect.objectContaining({ replaced: true })]);

    // A 401 for a request sent with the superseded token is a stale answer: replayed with the login.
    slowHold.resolve();
    expect((await fulfilled(slow)).data).toEqual({ url: '/slow', token: 'L1' });
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(server.sentWith('R1')).toEqual([]);

    // The other gate never saw the superseded session either.
    expect(await peer.getAccessToken()).toBe('L1');
    expect(peerEvents.of('tokens:changed')).not.toContainEqual(expect.objectContaining(LATE));

    // And the next refresh starts from the login's refresh token.
    server.token = 'L2';
    const later = observe(server.api.get('/later'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(2);
    expect(control.call(1).ctx.tokens).toEqual(LOGIN);
    control.call(1).result.resolve({ accessToken: 'L2', refreshToken: 'rL2' });
    await shared.drain();
    expect((await fulfilled(later)).data).toEqual({ url: '/later', token: 'L2' });
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('wins when the async store finishes writing the login before the refresh result arrives', async () => {
    const server = mockApi({ baseURL: BASE, token: 'L1' });
    const control = controlledRefresh();
    const shared = asyncStore(OLD, { set: 'manual' });
    const gate = keep(createRefreshGate({ refresh: control.refresh, store: shared.store }));
    gate.attach(server.api);
    const events = recordEvents(gate);

    const queued = observe(server.api.get('/queued'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    const held = observe(server.api.get('/held'));
    await flush();

    const login = observe(gate.setTokens(LOGIN));
    const abortedAtOnce = control.call(0).ctx.signal.aborted;
    await shared.drain();
    await fulfilled(login);
    control.call(0).result.resolve(LATE);
    await shared.drain();

    expect(abortedAtOnce).toBe(true);
    expect(shared.peek()).toEqual(LOGIN);
    expect(shared.store.set).not.toHaveBeenCalledWith(LATE);
    expect((await fulfilled(queued)).data).toEqual({ url: '/queued', token: 'L1' });
    expect((await fulfilled(held)).data).toEqual({ url: '/held', token: 'L1' });
    expect(events.of('refresh:success')).toEqual([expect.objectContaining({ replaced: true })]);
    expect(server.sentWith('R1')).toEqual([]);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
  });
});

describe('clear() and the old token', () => {
  // issue 10 item 3
  it('sends no new request with the old token from the moment clear() is called, while the async store is still clearing', async () => {
    const server = mockApi({ baseURL: BASE, token: 'A0' });
    server.route('/after', (request) => [200, { url: '/after', token: request.token }]);
    const control = controlledRefresh();
    const shared = asyncStore(OLD, { clear: 'manual' });
    const gate = keep(createRefreshGate({ refresh: control.refresh, store: shared.store }));
    gate.attach(server.api);
    await server.api.get('/before'); // the gate has read the store: A0

    const cleared = observe(gate.clear());
    const after = observe(server.api.get('/after'));
    const token = observe(gate.getAccessToken());
    await flush();
    expect(server.sentWith('A0').map((request) => request.url)).toEqual(['/before']);

    await shared.drain();
    await fulfilled(cleared);
    await fulfilled(after);
    expect(await fulfilled(token)).toBeNull();
    expect(server.sentTo('/after').map((request) => request.token)).toEqual([null]);
    expect(shared.peek()).toBeNull();
    expect(control.refresh).not.toHaveBeenCalled();
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
  });

  it('hands the caller the 401 of a request sent with the old token that arrives after clear(): not replayed, no refresh (sync store)', async () => {
    const server = mockApi({ baseURL: BASE, token: 'A1' });
    const hold = heldUnauthorized(server, '/slow');
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'A1');
    const counted = countingStore(OLD);
    const gate = keep(createRefreshGate({ refresh, store: counted.store }));
    gate.attach(server.api);

    const slow = observe(server.api.get('/slow'));
    await flush();
    expect(server.sentTo('/slow')).toHaveLength(1);
    await gate.clear();
    hold.resolve();

    const error = (await rejected(slow)) as AxiosError;
    expect(axios.isAxiosError(error)).toBe(true);
    expect(error.response?.status).toBe(401);
    expect(error.config?.headers.Authorization).toBe('Bearer A0'); // that very 401
    expect(server.sentTo('/slow').map((request) => request.token)).toEqual(['A0']);
    expect(refresh).not.toHaveBeenCalled();
    expect(counted.peek()).toBeNull();
    expect(await gate.getAccessToken()).toBeNull();
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 0, failures: 0 });
  });

  it('starts no refresh for a 401 on the old token that arrives while the async store is still clearing: the user stays logged out', async () => {
    const server = mockApi({ baseURL: BASE, token: 'A1' });
    const hold = heldUnauthorized(server, '/slow');
    const refresh = jest.fn(async (_ctx: RefreshContext) => ({
      accessToken: 'A1',
      refreshToken: 'r1',
    }));
    const shared = asyncStore(OLD, { set: 'manual', clear: 'manual' });
    const gate = keep(createRefreshGate({ refresh, store: shared.store }));
    gate.attach(server.api);

    const slow = observe(server.api.get('/slow'));
    await flush();
    expect(server.sentTo('/slow')).toHaveLength(1);
    const cleared = observe(gate.clear());
    hold.resolve(); // the 401 arrives before the store has cleared
    await flush();

    await shared.drain();
    await fulfilled(cleared);
    const error = (await rejected(slow)) as AxiosError;
    expect(error.response?.status).toBe(401);
    expect(error.config?.headers.Authorization).toBe('Bearer A0');
    expect(refresh).not.toHaveBeenCalled();
    expect(shared.store.set).not.toHaveBeenCalled();
    expect(shared.peek()).toBeNull();
    expect(await gate.getAccessToken()).toBeNull();
    expect(server.sentTo('/slow')).toHaveLength(1);
  });

  it('gives a refresh started after clear() ctx.tokens === null, even before the async store has cleared', async () => {
    const control = controlledRefresh();
    const shared = asyncStore(OLD, { clear: 'manual' });
    const gate = keep(createRefreshGate({ refresh: control.refresh, store: shared.store }));
    expect(await gate.getAccessToken()).toBe('A0'); // read and cached

    const cleared = observe(gate.clear());
    const manual = observe(gate.refresh());
    await flush();
    await shared.drain();
    await fulfilled(cleared);

    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(control.call(0).ctx.tokens).toBeNull();
    control.call(0).result.resolve({ accessToken: 'C1' }); // e.g. from an httpOnly cookie
    await shared.drain();
    await manual.result;
  });

  it('aborts a refresh whose store write is under way: every waiter rejects with one CanceledError, no failure, no cooldown, the late tokens are not published and the store ends empty', async () => {
    const server = mockApi({ baseURL: BASE, token: 'R1' });
    const control = controlledRefresh();
    const onRefreshFailed = jest.fn();
    const shared = asyncStore(OLD, { set: 'manual', clear: 'manual' });
    const { coordinator, published } = recordingCoordinator(inProcessCoordinator());
    const gate = keep(
      createRefreshGate({
        refresh: control.refresh,
        store: shared.store,
        coordinator,
        onRefreshFailed,
      }),
    );
    const peer = keep(
      createRefreshGate({
        refresh: jest.fn(async (_ctx: RefreshContext) => 'peer-refreshed'),
        store: shared.store,
        coordinator,
      }),
    );
    gate.attach(server.api);
    const events = recordEvents(gate);
    const peerEvents = recordEvents(peer);

    const queued = observe(server.api.get('/queued')); // A0 -> 401 -> the refresh
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    const held = observe(server.api.get('/held'));
    const token = observe(gate.getAccessToken());
    const manual = observe(gate.refresh());
    await flush();
    control.call(0).result.resolve(LATE); // its write to the slow store begins
    await flush();

    const cleared = observe(gate.clear());
    const abortedAtOnce = control.call(0).ctx.signal.aborted;
    await shared.drain();
    await fulfilled(cleared);

    const errors = [
      await rejected(queued),
      await rejected(held),
      await rejected(token),
      await rejected(manual),
    ];
    for (const error of errors) {
      expect(axios.isCancel(error)).toBe(true);
      expect(error).toBe(errors[0]);
    }
    expect(abortedAtOnce).toBe(true);
    expect(published).not.toContainEqual(LATE);
    expect(peerEvents.of('tokens:changed')).not.toContainEqual(expect.objectContaining(LATE));
    expect(events.of('refresh:failure')).toEqual([expect.objectContaining({ aborted: true })]);
    expect(events.of('refresh:success')).toEqual([]);
    expect(onRefreshFailed).not.toHaveBeenCalled();
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 0, failures: 0 });
    expect(shared.peek()).toBeNull();
    expect(await gate.getAccessToken()).toBeNull();
    expect(await peer.getAccessToken()).toBeNull();
    expect(server.sentTo('/held')).toEqual([]);
    expect(server.sentTo('/queued').map((request) => request.token)).toEqual(['A0']);
  });

  // issue 10 item 3 (the exception: a request sent with no token still refreshes, rule 3)
  it('still refreshes for a 401 on a request sent with no token after clear() (the refresh token may be a cookie)', async () => {
    const server = mockApi({ baseURL: BASE, token: 'C1' });
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'C1');
    const counted = countingStore(OLD);
    const gate = keep(createRefreshGate({ refresh, store: counted.store }));
    gate.attach(server.api);
    await gate.clear();

    expect((await server.api.get('/me')).data).toEqual({ url: '/me', token: 'C1' });
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(refresh.mock.calls[0]?.[0].tokens).toBeNull();
    expect(server.sentTo('/me').map((request) => request.token)).toEqual([null, 'C1']);
  });
});

describe('clear() with applyToken', () => {
  // issue 10 item 7
  const placements: Array<
    [
      string,
      RefreshGateOptions['applyToken'] & {},
      (config: InternalAxiosRequestConfig) => string | null,
    ]
  > = [
    [
      'a custom header (X-Token)',
      (config, token) => {
        config.headers.set('X-Token', token);
      },
      (config) => {
        const value = config.headers?.['X-Token'];
        return typeof value === 'string' ? value : null;
      },
    ],
    [
      'config.params',
      (config, token) => {
        config.params = { ...config.params, access_token: token };
      },
      (config) => (config.params?.access_token as string | undefined) ?? null,
    ],
  ];

  it.each(placements)(
    'does not replay a request whose 401 arrives after clear(): no request carrying the old token reaches the server after clear() (token in %s)',
    async (_where, applyToken, readToken) => {
      const server = mockApi({ baseURL: BASE, token: 'A1', readToken });
      const hold = heldUnauthorized(server, '/slow');
      const refresh = jest.fn(async (_ctx: RefreshContext) => 'A1');
      const counted = countingStore(OLD);
      const gate = keep(createRefreshGate({ refresh, store: counted.store, applyToken }));
      gate.attach(server.api);

      const slow = observe(server.api.get('/slow'));
      await flush();
      expect(server.sentWith('A0')).toHaveLength(1);
      const sentBeforeClear = server.sent.length;
      await gate.clear();
      hold.resolve();

      const error = (await rejected(slow)) as AxiosError;
      expect(error.response?.status).toBe(401);
      const after = observe(server.api.get('/after'));
      await after.result;
      expect(
        server.sent.slice(sentBeforeClear).filter((request) => request.token === 'A0'),
      ).toEqual([]);
      expect(server.sentTo('/slow')).toHaveLength(1);
      expect(refresh).toHaveBeenCalledTimes(1); // for /after, sent with no token (rule 3)
      expect(refresh.mock.calls[0]?.[0].tokens).toBeNull();
    },
  );

  it.each(placements)(
    'puts the old token on no new request from the moment clear() is called, while the async store is still clearing (token in %s)',
    async (_where, applyToken, readToken) => {
      const server = mockApi({ baseURL: BASE, token: 'A0', readToken });
      server.route('/after', (request) => [200, { url: '/after', token: request.token }]);
      const control = controlledRefresh();
      const shared = asyncStore(OLD, { clear: 'manual' });
      const gate = keep(
        createRefreshGate({ refresh: control.refresh, store: shared.store, applyToken }),
      );
      gate.attach(server.api);
      await server.api.get('/before');
      expect(server.sentWith('A0')).toHaveLength(1);

      const cleared = observe(gate.clear());
      const after = observe(server.api.get('/after'));
      await flush();
      await shared.drain();
      await fulfilled(cleared);
      await fulfilled(after);

      expect(server.sentTo('/after').map((request) => request.token)).toEqual([null]);
      expect(server.sentWith('A0')).toHaveLength(1);
      expect(control.refresh).not.toHaveBeenCalled();
    },
  );
});
