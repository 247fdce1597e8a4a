// Rule 8, timeouts: a refresh longer than refreshTimeoutMs is aborted through ctx.signal and fails
// with REFRESH_TIMEOUT (so waiters reject with it). A request waiting longer than queueTimeoutMs
// rejects with QUEUE_TIMEOUT; others are unaffected. 0 disables either.
import {
  attachRefreshGate,
  isRefreshGateError,
  memoryStore,
  type RefreshContext,
  type Tokens,
} from '../../src/index.js';
import { deferred, flush } from '../helpers/deferred.js';
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

beforeEach(() => {
  useFakeClock();
});
afterEach(() => {
  jest.useRealTimers();
});

/** A gate whose refresh hangs until the test resolves it; ctx of every call is kept. */
function hangingGate(options: { refreshTimeoutMs?: number; queueTimeoutMs?: number }) {
  const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
  const store = memoryStore();
  const pending = deferred<Tokens>();
  const refresh = jest.fn((_ctx: RefreshContext) => pending.promise);
  const onRefreshFailed = jest.fn();
  const failures = jest.fn();
  const gate = keep(
    attachRefreshGate(server.api, {
      refresh,
      store,
      initialTokens: { accessToken: 'A0', refreshToken: 'R0' },
      onRefreshFailed,
      ...options,
    }),
  );
  gate.on('refresh:failure', failures);
  return { server, store, pending, refresh, onRefreshFailed, failures, gate };
}

const ctxOf = (refresh: jest.Mock<Promise<Tokens>, [RefreshContext]>) => {
  const ctx = refresh.mock.calls[0]?.[0];
  if (!ctx) throw new Error('refresh was not called');
  return ctx;
};

describe('rule 8: refreshTimeoutMs', () => {
  it('aborts a hanging refresh and rejects every waiter with the same REFRESH_TIMEOUT', async () => {
    const { server, refresh, onRefreshFailed, failures, gate } = hangingGate({
      refreshTimeoutMs: 1000,
    });

    const queued = [observe(server.api.get('/a')), observe(server.api.get('/b'))];
    await flush();
    const held = [observe(server.api.get('/c')), observe(gate.getAccessToken())];
    await flush();
    expect(refresh).toHaveBeenCalledTimes(1);
    const { signal } = ctxOf(refresh);

    await jest.advanceTimersByTimeAsync(999);
    expect(signal.aborted).toBe(false);
    expect([...queued, ...held].some((waiter) => waiter.settled)).toBe(false);

    await jest.advanceTimersByTimeAsync(1);
    expect(signal.aborted).toBe(true);
    const timeout = signal.reason as unknown;
    expect(isRefreshGateError(timeout) && timeout.code).toBe('REFRESH_TIMEOUT');
    for (const waiter of [...queued, ...held]) expect(await rejected(waiter)).toBe(timeout);
    expect(onRefreshFailed).toHaveBeenCalledTimes(1);
    expect(onRefreshFailed).toHaveBeenCalledWith(timeout, { terminal: false });
    expect(failures).toHaveBeenCalledTimes(1);
    expect(server.sentTo('/c')).toHaveLength(0);
    expect(gate.state).toMatchObject({ waiting: 0, refreshes: 0, failures: 1 });
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('does not store the result of a refresh that resolves after its timeout', async () => {
    const { server, store, pending, gate } = hangingGate({ refreshTimeoutMs: 1000 });
    const changes = jest.fn();
    gate.on('tokens:changed', changes);

    const request = observe(server.api.get('/a'));
    await flush();
    await jest.advanceTimersByTimeAsync(1000);
    await rejected(request);

    pending.resolve({ accessToken: 'LATE', refreshToken: 'R-LATE' });
    await flush();

    expect(store.get()).toEqual({ accessToken: 'A0', refreshToken: 'R0' });
    expect(changes).not.toHaveBeenCalled();
    expect(gate.state).toMatchObject({ refreshes: 0, failures: 1 });
    // The next request still goes out with the old token, not the late one.
    server.token = 'A0';
    expect((await server.api.get('/next')).data).toEqual({ url: '/next', token: 'A0' });
    expect(server.sentWith('LATE')).toHaveLength(0);
  });

  it('never times a refresh out with refreshTimeoutMs 0', async () => {
    // queueTimeoutMs above the default refreshTimeoutMs (10 s), so that only the refresh timer counts.
    const { server, refresh, pending, gate } = hangingGate({
      refreshTimeoutMs: 0,
      queueTimeoutMs: 120_000,
    });

    const request = observe(server.api.get('/a'));
    await flush();
    await jest.advanceTimersByTimeAsync(119_999);

    expect(ctxOf(refresh).signal.aborted).toBe(false);
    expect(request.settled).toBe(false);
    expect(gate.state).toMatchObject({ status: 'refreshing', waiting: 1, failures: 0 });

    pending.resolve({ accessToken: 'A1' });
    expect((await fulfilled(request)).data).toEqual({ url: '/a', token: 'A1' });
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });
});

describe('rule 8: queueTimeoutMs', () => {
  it('rejects the waiter past its deadline with QUEUE_TIMEOUT while later ones keep waiting and succeed', async () => {
    const { server, refresh, pending, gate } = hangingGate({
      refreshTimeoutMs: 0,
      queueTimeoutMs: 1000,
    });

    const first = observe(server.api.get('/first')); // 401 with A0, queued at t = 0
    await flush();
    expect(refresh).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(400);
    const second = observe(server.api.get('/second')); // held at t = 400
    await flush();
    await jest.advanceTimersByTimeAsync(300);
    const third = observe(gate.getAccessToken()); // waits at t = 700
    await flush();
    expect(gate.state.waiting).toBe(3);

    await jest.advanceTimersByTimeAsync(299); // t = 999
    expect(first.settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1); // t = 1000
    const error = await rejected(first);
    expect(isRefreshGateError(error) && error.code).toBe('QUEUE_TIMEOUT');
    expect(second.settled).toBe(false);
    expect(third.settled).toBe(false);
    expect(gate.state).toMatchObject({ status: 'refreshing', waiting: 2, failures: 0 });
    expect(ctxOf(refresh).signal.aborted).toBe(false);

    await jest.advanceTimersByTimeAsync(399); // t = 1399: the second is 1 ms short of its deadline
    expect(second.settled).toBe(false);

    pending.resolve({ accessToken: 'A1' });
    expect((await fulfilled(second)).data).toEqual({ url: '/second', token: 'A1' });
    expect(await fulfilled(third)).toBe('A1');
    // The timed-out request was not replayed after the refresh.
    expect(server.sentTo('/first')).toHaveLength(1);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });

  it('times out each waiter at its own deadline', async () => {
    const { server, pending, gate } = hangingGate({ refreshTimeoutMs: 0, queueTimeoutMs: 1000 });

    const first = observe(server.api.get('/first'));
    await flush();
    await jest.advanceTimersByTimeAsync(400);
    const second = observe(server.api.get('/second'));
    await flush();

    await jest.advanceTimersByTimeAsync(600);
    expect(first.settled).toBe(true);
    expect(second.settled).toBe(false);
    await jest.advanceTimersByTimeAsync(400);
    const error = await rejected(second);
    expect(isRefreshGateError(error) && error.code).toBe('QUEUE_TIMEOUT');
    expect(gate.state.waiting).toBe(0);
    // The refresh itself runs on: a waiter giving up does not fail it.
    expect(gate.state.status).toBe('refreshing');
    pending.resolve({ accessToken: 'A1' });
    await flush();
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });

  it('never times a waiter out with queueTimeoutMs 0', async () => {
    // refreshTimeoutMs above the default queueTimeoutMs (30 s), so that only the queue timer counts.
    const { server, pending, gate } = hangingGate({
      refreshTimeoutMs: 600_000,
      queueTimeoutMs: 0,
    });

    const request = observe(server.api.get('/a'));
    await flush();
    const token = observe(gate.getAccessToken());
    const requests = [request, token];
    await flush();
    await jest.advanceTimersByTimeAsync(599_999);

    expect(requests.some((request) => request.settled)).toBe(false);
    expect(gate.state.waiting).toBe(2);

    pending.resolve({ accessToken: 'A1' });
    expect((await fulfilled(request)).data).toEqual({ url: '/a', token: 'A1' });
    expect(await fulfilled(token)).toBe('A1');
    expect(gate.state.waiting).toBe(0);
  });

  it('leaves no timer behind when both timeouts are disabled', async () => {
    const { server, pending, gate } = hangingGate({ refreshTimeoutMs: 0, queueTimeoutMs: 0 });

    const request = observe(server.api.get('/a'));
    await flush();
    expect(gate.state.waiting).toBe(1);
    expect(jest.getTimerCount()).toBe(0);

    pending.resolve({ accessToken: 'A1' });
    await fulfilled(request);
    expect(jest.getTimerCount()).toBe(0);
  });
});
