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
  type RefreshGate,
  type Tokens,
} from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import {
  controlledRefresh,
  countedController,
  countingStore,
  mockApi,
  rejectionOf,
  type Tracked,
  track,
} from '../helpers/gate-fixtures.js';

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
    expect(gate.state.waiting).toBe(4);

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
    expect(gateB.state).toMatchObject({ status: 'refreshing', waiting: 2 });
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
