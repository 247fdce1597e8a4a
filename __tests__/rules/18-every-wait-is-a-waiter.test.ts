/**
 * Rule 18, every wait is a waiter: a request or call waiting for anything (a refresh, an async
 * store's first read) is settled by its abort signal, queueTimeoutMs and destroy(), and counted in
 * `state.waiting`; a manual refresh() is bounded by refreshTimeoutMs, not queueTimeoutMs, and is not
 * counted. A skipAuthRefresh request never turns a failing store read into an unhandled rejection.
 */
import axios from 'axios';
import {
  createRefreshGate,
  isRefreshGateError,
  type RefreshContext,
  type Tokens,
} from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import { asyncStore, controlledRefresh, countedController } from '../helpers/gate-fixtures.js';
import {
  destroyAfterEach,
  fulfilled,
  mockApi,
  observe,
  rejected,
  useFakeClock,
  watchUnhandledRejections,
} from '../helpers/mock-api.js';

const unhandled = watchUnhandledRejections();
const keep = destroyAfterEach();

afterEach(() => {
  jest.useRealTimers();
});

const BASE = 'https://api.test';
const OLD: Tokens = { accessToken: 'A0', refreshToken: 'r0' };

const codeOf = (error: unknown) => (isRefreshGateError(error) ? error.code : error);

/** A gate on an async store whose first read the test releases (or fails) itself. */
function readingGate(options: { queueTimeoutMs?: number } = {}) {
  const server = mockApi({ baseURL: BASE, token: 'A0' });
  const control = controlledRefresh();
  const shared = asyncStore(OLD, { get: 'manual' });
  const gate = keep(
    createRefreshGate({ refresh: control.refresh, store: shared.store, ...options }),
  );
  gate.attach(server.api);
  return { server, control, shared, gate };
}

describe('a request waiting for an async store’s first read', () => {
  // issue 10 item 5
  it('is counted in state.waiting and rejects with CanceledError as soon as its signal aborts; it is never sent', async () => {
    const { server, control, shared, gate } = readingGate();
    const { controller, signal, listeners } = countedController();
    const request = observe(server.api.get('/a', { signal }));
    const other = observe(server.api.get('/b'));
    await flush();
    expect(shared.pending('get')).toHaveLength(1);
    const waitingWhileReading = gate.state.waiting;

    controller.abort();
    await flush();
    expect(request.settled).toBe(true);
    expect(axios.isCancel(await rejected(request))).toBe(true);
    const waitingAfterAbort = gate.state.waiting;
    expect(listeners()).toBe(0);

    await shared.drain();
    expect((await fulfilled(other)).data).toEqual({ url: '/b', token: 'A0' });
    expect(server.sentTo('/a')).toEqual([]);
    expect(waitingWhileReading).toBe(2);
    expect(waitingAfterAbort).toBe(1);
    expect(gate.state.waiting).toBe(0);
    expect(control.refresh).not.toHaveBeenCalled();
  });

  it('rejects with the cancel reason as soon as its CancelToken is canceled; it is never sent', async () => {
    const { server, shared, gate } = readingGate();
    const source = axios.CancelToken.source();
    const request = observe(server.api.get('/a', { cancelToken: source.token }));
    await flush();

    source.cancel('user left the page');
    await flush();
    expect(request.settled).toBe(true);
    const error = await rejected(request);
    expect(axios.isCancel(error)).toBe(true);
    expect((error as Error).message).toBe('user left the page');

    await shared.drain();
    expect(server.sentTo('/a')).toEqual([]);
    expect(gate.state.waiting).toBe(0);
  });

  it('rejects with QUEUE_TIMEOUT after queueTimeoutMs, as does a getAccessToken() call waiting for it; neither is sent later', async () => {
    useFakeClock();
    const { server, shared, gate } = readingGate({ queueTimeoutMs: 1_000 });
    const request = observe(server.api.get('/a'));
    const token = observe(gate.getAccessToken());
    await flush();
    const waitingWhileReading = gate.state.waiting;

    await jest.advanceTimersByTimeAsync(999);
    expect([request.settled, token.settled]).toEqual([false, false]);
    await jest.advanceTimersByTimeAsync(1);
    expect([request.settled, token.settled]).toEqual([true, true]);
    expect(codeOf(await rejected(request))).toBe('QUEUE_TIMEOUT');
    expect(codeOf(await rejected(token))).toBe('QUEUE_TIMEOUT');

    await shared.drain();
    expect(server.sent).toEqual([]);
    expect(waitingWhileReading).toBe(2);
    expect(gate.state.waiting).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects with DESTROYED on destroy(), as does a getAccessToken() call waiting for it; nothing is sent and no timer is left', async () => {
    useFakeClock();
    const { server, control, shared, gate } = readingGate();
    const request = observe(server.api.get('/a'));
    const token = observe(gate.getAccessToken());
    await flush();

    gate.destroy();
    await flush();
    expect([request.settled, token.settled]).toEqual([true, true]);
    expect(codeOf(await rejected(request))).toBe('DESTROYED');
    expect(codeOf(await rejected(token))).toBe('DESTROYED');

    await shared.drain();
    expect(server.sent).toEqual([]);
    expect(control.refresh).not.toHaveBeenCalled();
    expect(gate.state.waiting).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects, every one of them, with the error of a first read that fails; the next request reads again', async () => {
    const { server, shared, gate } = readingGate();
    const waiting = [
      observe(server.api.get('/a')),
      observe(server.api.get('/b')),
      observe(gate.getAccessToken()),
    ];
    await flush();
    expect(shared.pending('get')).toHaveLength(1);

    const failure = new Error('storage unavailable');
    shared.pending('get')[0]!.fail(failure);
    await flush();
    for (const observed of waiting) expect(await rejected(observed)).toBe(failure);
    expect(gate.state.waiting).toBe(0);

    const next = observe(server.api.get('/c'));
    await flush();
    expect(shared.store.get).toHaveBeenCalledTimes(2);
    await shared.drain();
    expect((await fulfilled(next)).data).toEqual({ url: '/c', token: 'A0' });
    expect(server.sent.map((request) => request.url)).toEqual(['/c']);
  });
});

describe('a skipAuthRefresh request while the async store cannot be read', () => {
  // issue 10 item 4
  it('raises no unhandled rejection and is still sent, without a token when none is known', async () => {
    const server = mockApi({ baseURL: BASE, token: 'A0' });
    server.route('/auth/refresh', (request) => [200, { token: request.token }]);
    const shared = asyncStore(OLD);
    shared.control.failGet = new Error('redis: connection lost, reconnecting');
    keep(
      createRefreshGate({
        refresh: jest.fn(async (_ctx: RefreshContext) => 'A1'),
        store: shared.store,
      }),
    ).attach(server.api);

    const response = await server.api.post('/auth/refresh', {}, { skipAuthRefresh: true });
    await flush(3);

    expect(unhandled).not.toHaveBeenCalled();
    expect(response.data).toEqual({ token: null });
    expect(server.sentTo('/auth/refresh').map((request) => request.token)).toEqual([null]);
  });
});

describe('a manual refresh()', () => {
  // issue 10 item 9
  it('is not bounded by queueTimeoutMs: it resolves with the new tokens of a refresh that outlasts it, while a held request times out', async () => {
    useFakeClock();
    const server = mockApi({ baseURL: BASE, token: 'N1' });
    const refresh = jest.fn(
      (_ctx: RefreshContext) =>
        new Promise<Tokens>((resolve) => {
          setTimeout(() => resolve({ accessToken: 'N1', refreshToken: 'r1' }), 500);
        }),
    );
    const gate = keep(
      createRefreshGate({
        refresh,
        initialTokens: OLD,
        queueTimeoutMs: 100,
        refreshTimeoutMs: 10_000,
      }),
    );
    gate.attach(server.api);

    const manual = observe(gate.refresh());
    await flush();
    const held = observe(server.api.get('/held'));
    await flush();

    await jest.advanceTimersByTimeAsync(100);
    expect(held.settled).toBe(true);
    expect(codeOf(await rejected(held))).toBe('QUEUE_TIMEOUT');
    expect(manual.settled).toBe(false);

    await jest.advanceTimersByTimeAsync(400);
    expect(await fulfilled(manual)).toEqual({ accessToken: 'N1', refreshToken: 'r1' });
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(server.sentTo('/held')).toEqual([]);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('is bounded by refreshTimeoutMs: a refresh that never settles rejects it with REFRESH_TIMEOUT, not QUEUE_TIMEOUT', async () => {
    useFakeClock();
    const control = controlledRefresh();
    const gate = keep(
      createRefreshGate({
        refresh: control.refresh,
        initialTokens: OLD,
        queueTimeoutMs: 100,
        refreshTimeoutMs: 1_000,
      }),
    );

    const manual = observe(gate.refresh());
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);

    await jest.advanceTimersByTimeAsync(999);
    expect(manual.settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(manual.settled).toBe(true);
    expect(codeOf(await rejected(manual))).toBe('REFRESH_TIMEOUT');
    expect(control.call(0).ctx.signal.aborted).toBe(true);
    expect(gate.state).toMatchObject({ waiting: 0, failures: 1 });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('is not counted in state.waiting, which counts held and queued requests and pending getAccessToken() calls', async () => {
    const server = mockApi({ baseURL: BASE, token: 'N1' });
    const control = controlledRefresh();
    const gate = keep(createRefreshGate({ refresh: control.refresh, initialTokens: OLD }));
    gate.attach(server.api);

    const queued = observe(server.api.get('/queued')); // A0 -> 401 -> the refresh
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    const counts = [gate.state.waiting];
    const manual = observe(gate.refresh());
    await flush();
    counts.push(gate.state.waiting);
    const held = observe(server.api.get('/held'));
    await flush();
    counts.push(gate.state.waiting);
    const token = observe(gate.getAccessToken());
    await flush();
    counts.push(gate.state.waiting);
    const another = observe(gate.refresh());
    await flush();
    counts.push(gate.state.waiting);

    // queued; + refresh(); + held; + getAccessToken(); + refresh()
    expect(counts).toEqual([1, 1, 2, 3, 3]);

    control.call(0).result.resolve({ accessToken: 'N1', refreshToken: 'r1' });
    await flush();
    expect((await fulfilled(queued)).data).toEqual({ url: '/queued', token: 'N1' });
    expect((await fulfilled(held)).data).toEqual({ url: '/held', token: 'N1' });
    expect(await fulfilled(token)).toBe('N1');
    expect(await fulfilled(manual)).toMatchObject({ accessToken: 'N1' });
    expect(await fulfilled(another)).toMatchObject({ accessToken: 'N1' });
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
  });
});
