/**
 * Rule 13, detach and destroy: detach ejects both interceptors; destroy() rejects every waiter with
 * DESTROYED, aborts the running refresh (its late result is not stored) and leaves no timer, abort
 * listener or subscription behind.
 */
import axios, { type AxiosInstance } from 'axios';
import {
  type Coordinator,
  createRefreshGate,
  inProcessCoordinator,
  isRefreshGateError,
  type RefreshContext,
  type RefreshGate,
  type Tokens,
} from '../../src/index.js';
import { deferred, flush } from '../helpers/deferred.js';
import {
  asyncStore,
  controlledRefresh,
  countedController,
  countingStore,
  mockApi,
  recordingCoordinator,
  rejectionOf,
  type Tracked,
  track,
} from '../helpers/gate-fixtures.js';
import { mockApi as routedApi } from '../helpers/mock-api.js';

const gates: RefreshGate[] = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
  jest.useRealTimers();
});

const initial: Tokens = { accessToken: 'old', refreshToken: 'r1' };

/** The interceptors installed on `instance` (axios leaves `null` where one was ejected). */
function interceptorCount(instance: AxiosInstance): { request: number; response: number } {
  const live = (manager: unknown) =>
    (manager as { handlers: unknown[] }).handlers.filter((handler) => handler != null).length;
  return {
    request: live(instance.interceptors.request),
    response: live(instance.interceptors.response),
  };
}

const isDestroyed = (error: unknown) => isRefreshGateError(error) && error.code === 'DESTROYED';

describe('detach', () => {
  it('ejects both interceptors: no header, no hold and no refresh afterwards', async () => {
    const server = mockApi('new');
    const control = controlledRefresh();
    const gate = createRefreshGate({ refresh: control.refresh, initialTokens: initial });
    gates.push(gate);
    const detach = gate.attach(server.api);
    expect(interceptorCount(server.api)).toEqual({ request: 1, response: 1 });

    server.current = 'old';
    await server.api.get('/before');
    detach();
    expect(interceptorCount(server.api)).toEqual({ request: 0, response: 0 });

    server.current = null;
    await server.api.get('/after');
    // A 401 after detach is the caller's, with no refresh.
    server.current = 'new';
    const error = await rejectionOf(server.api.get('/unauthorized'));
    expect(axios.isAxiosError(error) && error.response?.status).toBe(401);
    expect(control.refresh).not.toHaveBeenCalled();

    // Nor is a request held while a refresh runs.
    track(gate.refresh());
    await flush();
    server.current = null;
    await expect(server.api.get('/during')).resolves.toMatchObject({ status: 200 });

    expect(server.sent()).toEqual([
      ['/before', 'Bearer old'],
      ['/after', undefined],
      ['/unauthorized', undefined],
      ['/during', undefined],
    ]);
  });

  it('only detaches its own instance, and can be called twice', async () => {
    const one = mockApi(null);
    const two = mockApi(null);
    const gate = createRefreshGate({ refresh: async () => 'new', initialTokens: initial });
    gates.push(gate);
    const detachOne = gate.attach(one.api);
    gate.attach(two.api);
    detachOne();
    detachOne();
    expect(interceptorCount(one.api)).toEqual({ request: 0, response: 0 });
    expect(interceptorCount(two.api)).toEqual({ request: 1, response: 1 });
    await two.api.get('/x');
    expect(two.sent()).toEqual([['/x', 'Bearer old']]);

    // Attaching again after a detach installs the interceptors again.
    gate.attach(one.api);
    await one.api.get('/y');
    expect(one.sent()).toEqual([['/y', 'Bearer old']]);
  });

  it('is what destroy() does on every attached instance', async () => {
    const one = mockApi(null);
    const two = mockApi(null);
    const gate = createRefreshGate({ refresh: async () => 'new', initialTokens: initial });
    gate.attach(one.api);
    gate.attach(two.api);
    gate.destroy();
    expect(interceptorCount(one.api)).toEqual({ request: 0, response: 0 });
    expect(interceptorCount(two.api)).toEqual({ request: 0, response: 0 });
    await one.api.get('/x');
    expect(one.sent()).toEqual([['/x', undefined]]);
  });
});

describe('destroy', () => {
  async function running() {
    const server = mockApi('new');
    const control = controlledRefresh();
    const counted = countingStore();
    const gate = createRefreshGate({
      refresh: control.refresh,
      store: counted.store,
      initialTokens: initial,
    });
    gates.push(gate);
    gate.attach(server.api);
    return { server, control, counted, gate };
  }

  it('rejects held and queued requests, getAccessToken() and refresh() with DESTROYED', async () => {
    const { server, control, gate } = await running();
    const queued = track(server.api.get('/queued'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    const waiters: Tracked<unknown>[] = [
      queued,
      track(server.api.get('/held')),
      track(gate.getAccessToken()),
      track(gate.refresh()),
    ];
    await flush();
    expect(gate.state.waiting).toBe(3); // rule 18: a pending refresh() call is not counted

    gate.destroy();
    await flush();

    for (const waiter of waiters) {
      expect(waiter.status).toBe('rejected');
      expect(isDestroyed(waiter.error)).toBe(true);
    }
    expect(gate.state.waiting).toBe(0);
    expect(server.sent()).toEqual([['/queued', 'Bearer old']]);
  });

  it('aborts the running refresh, whose late result is not stored', async () => {
    const { control, counted, gate } = await running();
    const changed = jest.fn();
    gate.on('tokens:changed', changed);
    track(gate.refresh());
    await flush();
    const { ctx, result } = control.call(0);
    expect(ctx.signal.aborted).toBe(false);

    gate.destroy();
    expect(ctx.signal.aborted).toBe(true);

    result.resolve({ accessToken: 'late', refreshToken: 'r2' });
    await flush();
    expect(counted.peek()).toEqual(initial);
    expect(counted.store.set).toHaveBeenCalledTimes(1); // initialTokens only
    expect(changed).not.toHaveBeenCalled();
  });

  it('makes later calls reject with DESTROYED and attach throw', async () => {
    const { gate } = await running();
    gate.destroy();
    gate.destroy(); // idempotent
    expect(isDestroyed(await rejectionOf(gate.getAccessToken()))).toBe(true);
    expect(isDestroyed(await rejectionOf(gate.refresh()))).toBe(true);
    expect(isDestroyed(await rejectionOf(gate.setTokens(initial)))).toBe(true);
    expect(isDestroyed(await rejectionOf(gate.clear()))).toBe(true);
    expect(() => gate.attach(axios.create())).toThrow();
  });

  it('leaves no timer behind: refresh timeout, queue timeout and lock wait are all cleared', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    // Gate A holds a shared lock with no timers of its own, so gate B waits for it (a lock timer).
    const coordinator = inProcessCoordinator();
    const holder = controlledRefresh();
    const gateA = createRefreshGate({
      refresh: holder.refresh,
      coordinator,
      refreshTimeoutMs: 0,
      queueTimeoutMs: 0,
    });
    gates.push(gateA);
    track(gateA.refresh());
    await flush();
    expect(jest.getTimerCount()).toBe(0);

    const server = mockApi('new');
    const control = controlledRefresh();
    const gateB = createRefreshGate({
      refresh: control.refresh,
      coordinator,
      initialTokens: initial,
    });
    gateB.attach(server.api);
    const waiters = [track(gateB.refresh()), track(server.api.get('/held'))];
    await flush();
    expect(gateB.state).toMatchObject({ status: 'refreshing', waiting: 1 }); // rule 18: a pending refresh() call is not counted
    // The refresh timeout, the queue timeout and the lock acquisition timeout.
    expect(jest.getTimerCount()).toBe(3);

    gateB.destroy();
    await flush();
    expect(jest.getTimerCount()).toBe(0);
    expect(waiters.every((w) => isDestroyed(w.error))).toBe(true);

    // Gate A's refresh is unaffected, and nothing fires later either.
    holder.call(0).result.resolve('a-token');
    await flush();
    expect(gateA.state).toMatchObject({ status: 'idle', refreshes: 1 });
    expect(control.refresh).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('leaves no timer behind while its own refresh runs', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { server, gate } = await running();
    track(server.api.get('/queued'));
    track(server.api.get('/held'));
    await flush();
    expect(jest.getTimerCount()).toBe(2);
    gate.destroy();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('removes the abort listeners it added to held and queued requests', async () => {
    const { server, gate } = await running();
    const queued = countedController();
    const held = countedController();
    const requests = [
      track(server.api.get('/queued', { signal: queued.signal })),
      track(server.api.get('/held', { signal: held.signal })),
    ];
    await flush();
    expect(gate.state.waiting).toBe(2);
    expect(queued.listeners() + held.listeners()).toBe(2);

    gate.destroy();
    await flush();
    expect(queued.listeners()).toBe(0);
    expect(held.listeners()).toBe(0);
    expect(requests.every((r) => isDestroyed(r.error))).toBe(true);
  });

  it('unsubscribes from the store and from a coordinator it was given', async () => {
    const counted = countingStore(initial);
    const shared = inProcessCoordinator();
    let coordinatorSubscriptions = 0;
    const coordinator: Coordinator = {
      runExclusive: (fn, opts) => shared.runExclusive(fn, opts),
      publish: (tokens) => shared.publish?.(tokens),
      subscribe(listener) {
        coordinatorSubscriptions++;
        const unsubscribe = shared.subscribe!(listener);
        return () => {
          coordinatorSubscriptions--;
          unsubscribe();
        };
      },
      dispose: jest.fn(),
    };
    const gate = createRefreshGate({
      refresh: async () => 'new',
      store: counted.store,
      coordinator,
    });
    const changed = jest.fn();
    gate.on('tokens:changed', changed);
    expect(counted.subscriptions()).toBe(1);
    expect(coordinatorSubscriptions).toBe(1);

    gate.destroy();
    expect(counted.subscriptions()).toBe(0);
    expect(coordinatorSubscriptions).toBe(0);
    // A coordinator the caller passed in is the caller's to dispose of.
    expect(coordinator.dispose).not.toHaveBeenCalled();

    counted.push({ accessToken: 'elsewhere' });
    shared.publish?.({ accessToken: 'elsewhere-too' });
    expect(changed).not.toHaveBeenCalled();
  });
});

describe('destroy() in the same tick as a call or a request', () => {
  // issue 10 item 1 (React StrictMode mounts, unmounts and mounts again in one tick)
  const NOW = 1_700_000_000_000;
  const fakeClock = () =>
    jest.useFakeTimers({ now: NOW, doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });

  /** Records every event the gate emits. */
  function allEvents(gate: RefreshGate) {
    const seen = jest.fn();
    for (const name of [
      'refresh:start',
      'refresh:success',
      'refresh:failure',
      'request:queued',
      'request:replayed',
      'tokens:changed',
    ] as const) {
      gate.on(name, (payload) => seen(name, payload));
    }
    return seen;
  }

  it.each([
    ['would succeed', () => Promise.resolve({ accessToken: 'new', refreshToken: 'r2' })],
    ['would fail', () => Promise.reject(new Error('refresh endpoint down'))],
  ])(
    'rejects a refresh() begun before it with DESTROYED; the refresh (which %s) never runs, and nothing is stored, emitted or left armed',
    async (_outcome, outcome) => {
      fakeClock();
      const counted = countingStore(initial);
      const refresh = jest.fn((_ctx: RefreshContext) => outcome());
      const onRefreshFailed = jest.fn();
      const gate = createRefreshGate({ refresh, store: counted.store, onRefreshFailed });
      gates.push(gate);
      const events = allEvents(gate);

      const manual = track(gate.refresh());
      gate.destroy();
      await flush();

      expect(manual.status).toBe('rejected');
      expect(isDestroyed(manual.error)).toBe(true);
      expect(refresh).not.toHaveBeenCalled();
      expect(onRefreshFailed).not.toHaveBeenCalled();
      expect(counted.store.set).not.toHaveBeenCalled();
      expect(counted.peek()).toEqual(initial);
      expect(events).not.toHaveBeenCalled();
      expect(jest.getTimerCount()).toBe(0);
      expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 0, failures: 0 });
    },
  );

  it.each([
    ['a token far from expiry', NOW + 3_600_000],
    ['an expiring token', NOW + 1_000],
  ])(
    'rejects a getAccessToken() begun before it with DESTROYED (%s); no refresh runs',
    async (_which, expiresAt) => {
      fakeClock();
      const control = controlledRefresh();
      const counted = countingStore({ accessToken: 'old', refreshToken: 'r1', expiresAt });
      const gate = createRefreshGate({ refresh: control.refresh, store: counted.store });
      gates.push(gate);

      const token = track(gate.getAccessToken());
      gate.destroy();
      await flush();

      expect(token.status).toBe('rejected');
      expect(isDestroyed(token.error)).toBe(true);
      expect(control.refresh).not.toHaveBeenCalled();
      expect(jest.getTimerCount()).toBe(0);
      expect(gate.state.waiting).toBe(0);
    },
  );

  it('rejects a request whose request interceptor runs after it with DESTROYED; it never reaches the adapter and leaves no abort listener', async () => {
    fakeClock();
    const server = mockApi(null);
    const control = controlledRefresh();
    const gate = createRefreshGate({ refresh: control.refresh, initialTokens: initial });
    gates.push(gate);
    gate.attach(server.api);
    const { signal, listeners } = countedController();

    const requests = [track(server.api.get('/a', { signal })), track(server.api.get('/b'))];
    gate.destroy();
    await flush();

    for (const request of requests) {
      expect(request.status).toBe('rejected');
      expect(isDestroyed(request.error)).toBe(true);
    }
    expect(server.sent()).toEqual([]);
    expect(listeners()).toBe(0);
    expect(control.refresh).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('hands a response that arrives after it to the caller untouched: a 401 is the caller’s, with no refresh', async () => {
    const server = routedApi({ baseURL: 'https://api.test', token: 'new' });
    const hold = deferred<void>();
    server.route('/slow', async (request) => {
      await hold.promise;
      return [401, { error: 'invalid_token', token: request.token }];
    });
    const control = controlledRefresh();
    const gate = createRefreshGate({ refresh: control.refresh, initialTokens: initial });
    gates.push(gate);
    gate.attach(server.api);

    const slow = track(server.api.get('/slow'));
    await flush();
    expect(server.sentTo('/slow')).toHaveLength(1);
    gate.destroy();
    hold.resolve();
    await flush();

    expect(slow.status).toBe('rejected');
    expect(axios.isAxiosError(slow.error) && slow.error.response?.status).toBe(401);
    expect(server.sentTo('/slow').map((request) => request.token)).toEqual(['old']);
    expect(control.refresh).not.toHaveBeenCalled();
  });

  it('publishes nothing afterwards: a refresh whose store write is under way at destroy() does not announce its tokens', async () => {
    const shared = asyncStore(initial, { set: 'manual' });
    const { coordinator, published } = recordingCoordinator(inProcessCoordinator());
    const control = controlledRefresh();
    const gate = createRefreshGate({ refresh: control.refresh, store: shared.store, coordinator });
    const peer = createRefreshGate({
      refresh: async () => 'peer',
      store: shared.store,
      coordinator,
    });
    gates.push(gate, peer);
    const peerChanged = jest.fn();
    peer.on('tokens:changed', peerChanged);

    const manual = track(gate.refresh());
    await flush();
    control.call(0).result.resolve({ accessToken: 'late', refreshToken: 'r2' });
    await flush();
    gate.destroy();
    expect(control.call(0).ctx.signal.aborted).toBe(true);
    await shared.drain();

    expect(manual.status).toBe('rejected');
    expect(isDestroyed(manual.error)).toBe(true);
    expect(published).toEqual([]);
    expect(peerChanged).not.toHaveBeenCalled();
    expect(gate.state.waiting).toBe(0);
  });

  it('publishes nothing afterwards: a setTokens() whose async store write settles after destroy() settles and announces nothing more', async () => {
    // The scope hears a login at once (its members end their refreshes); nothing after destroy().
    const shared = asyncStore(initial, { set: 'manual' });
    const { coordinator, published } = recordingCoordinator(inProcessCoordinator());
    const gate = createRefreshGate({
      refresh: async () => 'new',
      store: shared.store,
      coordinator,
    });
    const peer = createRefreshGate({
      refresh: async () => 'peer',
      store: shared.store,
      coordinator,
    });
    gates.push(gate, peer);
    const peerChanged = jest.fn();
    peer.on('tokens:changed', peerChanged);

    const login = track(gate.setTokens({ accessToken: 'login', refreshToken: 'r9' }));
    expect(published).toEqual([{ accessToken: 'login', refreshToken: 'r9' }]);
    expect(peerChanged).toHaveBeenCalledTimes(1);
    gate.destroy();
    await shared.drain();
    await flush();

    expect(login.status).not.toBe('pending');
    expect(published).toHaveLength(1);
    expect(peerChanged).toHaveBeenCalledTimes(1);
  });
});
