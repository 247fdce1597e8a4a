/**
 * Transient and terminal refresh failures: a failure without an answer (network error, timeout)
 * or with 408/425/429/5xx is tried again inside the same single flight (`refreshRetry`), its
 * waiters still waiting; `refresh:retry` fires per try; only a terminal failure, or retries spent,
 * fail the flight, and `onRefreshFailed(error, { terminal })` says which. Deterministic: the clock
 * is faked, every refresh call is a deferred, and jitter is pinned with a mocked Math.random.
 */
import type { AxiosError } from 'axios';
import { isTerminalFailure, retryDelay } from '../src/refresh-retry.js';
import { flush } from './helpers/deferred.js';
import { track } from './helpers/gate-fixtures.js';
import { httpError, NEW, NOW, OLD, retryWorld, useRetryClock } from './helpers/retry-fixtures.js';

useRetryClock();
const setup = retryWorld;

describe('a transient failure is tried again in the same flight', () => {
  it('a network error, then 503, then success: one flight, three calls, every waiter gets the new token', async () => {
    const { server, control, gate, onRefreshFailed, retries } = setup();
    const requests = ['/a', '/b', '/c'].map((url) => track(server.api.get(url)));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);

    const network = httpError();
    control.call(0).result.reject(network);
    await flush();
    expect(retries).toEqual([{ reason: 'unauthorized', attempt: 1, delayMs: 300, error: network }]);
    expect(gate.state).toMatchObject({ status: 'refreshing', waiting: 3 });
    // Not before its delay.
    await jest.advanceTimersByTimeAsync(299);
    expect(control.refresh).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(control.refresh).toHaveBeenCalledTimes(2);
    // The retry presents the same tokens, with a live signal.
    expect(control.call(1).ctx.tokens).toEqual(OLD);
    expect(control.call(1).ctx.signal.aborted).toBe(false);

    const unavailable = httpError(503);
    control.call(1).result.reject(unavailable);
    await flush();
    expect(retries).toHaveLength(2);
    expect(retries[1]).toMatchObject({ attempt: 2, delayMs: 600, error: unavailable });
    await jest.advanceTimersByTimeAsync(600);
    expect(control.refresh).toHaveBeenCalledTimes(3);
    control.call(2).result.resolve(NEW);
    await flush();

    expect(requests.map((request) => request.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(server.sent().filter(([, auth]) => auth === 'Bearer new')).toHaveLength(3);
    expect(onRefreshFailed).not.toHaveBeenCalled();
    expect(gate.state).toMatchObject({ status: 'idle', refreshes: 1, failures: 0, waiting: 0 });
  });

  it("honours the provider's Retry-After (seconds), capped by maxDelayMs", async () => {
    const { server, control, retries } = setup({ refreshRetry: { maxDelayMs: 2_000 } });
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.reject(httpError(429, { 'retry-after': '1' }));
    await flush();
    expect(retries[0]).toMatchObject({ delayMs: 1_000 });
    await jest.advanceTimersByTimeAsync(1_000);
    control.call(1).result.reject(httpError(503, { 'retry-after': '60' }));
    await flush();
    expect(retries[1]).toMatchObject({ delayMs: 2_000 });
    await jest.advanceTimersByTimeAsync(2_000);
    control.call(2).result.resolve(NEW);
    await flush();
    expect(request.status).toBe('fulfilled');
  });

  it('retries spent: the flight fails with the last error, once; onRefreshFailed says it was not terminal', async () => {
    const { server, control, gate, onRefreshFailed, failures } = setup({
      refreshRetry: { retries: 1, baseDelayMs: 10 },
    });
    const requests = ['/a', '/b'].map((url) => track(server.api.get(url)));
    await flush();
    control.call(0).result.reject(httpError(502));
    await flush();
    await jest.advanceTimersByTimeAsync(10);
    const last = httpError(504);
    control.call(1).result.reject(last);
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(2);
    expect(requests.map((request) => request.status)).toEqual(['rejected', 'rejected']);
    expect(requests.map((request) => request.error)).toEqual([last, last]);
    expect(onRefreshFailed).toHaveBeenCalledTimes(1);
    expect(onRefreshFailed).toHaveBeenCalledWith(last, { terminal: false });
    expect(failures).toEqual([{ reason: 'unauthorized', error: last, terminal: false }]);
    expect(gate.state).toMatchObject({ status: 'cooldown', failures: 1 });
  });
});

describe('a terminal failure fails at once', () => {
  it.each([
    ['400 invalid_grant', () => httpError(400)],
    ['401', () => httpError(401)],
    ["an error of the app's own", () => new Error('bug')],
  ])('%s: no retry, onRefreshFailed says terminal', async (_, make) => {
    const { server, control, onRefreshFailed, retries } = setup();
    const request = track(server.api.get('/a'));
    await flush();
    const error = make();
    control.call(0).result.reject(error);
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(retries).toEqual([]);
    expect(request.error).toBe(error);
    expect(onRefreshFailed).toHaveBeenCalledWith(error, { terminal: true });
  });

  it('refreshRetry: false never retries; an isTerminal of the app decides, and one that throws counts as terminal', async () => {
    const off = setup({ refreshRetry: false });
    const first = track(off.server.api.get('/a'));
    await flush();
    off.control.call(0).result.reject(httpError(503));
    await flush();
    expect(off.control.refresh).toHaveBeenCalledTimes(1);
    expect(first.status).toBe('rejected');
    expect(off.onRefreshFailed).toHaveBeenCalledWith(expect.anything(), { terminal: false });

    const mine = setup({ isTerminal: (error) => (error as AxiosError).response?.status === 503 });
    const second = track(mine.server.api.get('/a'));
    await flush();
    mine.control.call(0).result.reject(httpError(503));
    await flush();
    expect(mine.control.refresh).toHaveBeenCalledTimes(1);
    expect(second.status).toBe('rejected');

    const warn = jest.fn();
    const throwing = setup({
      isTerminal: () => {
        throw new Error('oops');
      },
      logger: { debug() {}, warn },
    });
    const third = track(throwing.server.api.get('/a'));
    await flush();
    throwing.control.call(0).result.reject(httpError(503));
    await flush();
    expect(throwing.control.refresh).toHaveBeenCalledTimes(1);
    expect(third.status).toBe('rejected');
    expect(throwing.onRefreshFailed).toHaveBeenCalledWith(expect.anything(), { terminal: true });
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('isTerminal threw'),
      expect.anything(),
    );
  });
});

describe('the flight ends while it waits to try again', () => {
  it('clear() during the backoff: no further call, every waiter settles once', async () => {
    const { server, control, gate, onRefreshFailed } = setup();
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.reject(httpError());
    await flush();
    await gate.clear();
    await flush();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(request.status).toBe('rejected');
    expect(onRefreshFailed).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('refreshTimeoutMs bounds the retries too: REFRESH_TIMEOUT, not another call', async () => {
    const { server, control, onRefreshFailed } = setup({
      refreshTimeoutMs: 1_000,
      refreshRetry: { retries: 5, baseDelayMs: 800 },
    });
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.reject(httpError(500));
    await flush();
    await jest.advanceTimersByTimeAsync(800);
    expect(control.refresh).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(200);
    expect(request.status).toBe('rejected');
    expect(request.error).toMatchObject({ code: 'REFRESH_TIMEOUT' });
    expect(onRefreshFailed).toHaveBeenCalledWith(request.error, { terminal: false });
    await jest.advanceTimersByTimeAsync(10_000);
    expect(control.refresh).toHaveBeenCalledTimes(2);
  });

  it('destroy() during the backoff leaves no timer and makes no call', async () => {
    const { server, control, gate } = setup();
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.reject(httpError());
    await flush();
    gate.destroy();
    await flush();
    expect(request.status).toBe('rejected');
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(control.refresh).toHaveBeenCalledTimes(1);
  });
});

describe('a browser that reports itself offline', () => {
  it('waits for online before the retry, bounded by the flight', async () => {
    const listeners = new Map<string, () => void>();
    const scope = globalThis as Record<string, unknown>;
    const saved = {
      navigator: scope.navigator,
      add: scope.addEventListener,
      remove: scope.removeEventListener,
    };
    const navigator = { onLine: false };
    Object.defineProperty(globalThis, 'navigator', { value: navigator, configurable: true });
    scope.addEventListener = (type: string, listener: () => void) => listeners.set(type, listener);
    scope.removeEventListener = (type: string) => listeners.delete(type);
    try {
      const { server, control } = setup();
      const request = track(server.api.get('/a'));
      await flush();
      control.call(0).result.reject(httpError());
      await flush();
      await jest.advanceTimersByTimeAsync(5_000);
      expect(control.refresh).toHaveBeenCalledTimes(1);
      expect(listeners.has('online')).toBe(true);
      navigator.onLine = true;
      listeners.get('online')?.();
      await flush();
      expect(control.refresh).toHaveBeenCalledTimes(2);
      control.call(1).result.resolve(NEW);
      await flush();
      expect(request.status).toBe('fulfilled');
    } finally {
      Object.defineProperty(globalThis, 'navigator', {
        value: saved.navigator,
        configurable: true,
      });
      scope.addEventListener = saved.add;
      scope.removeEventListener = saved.remove;
    }
  });
});

describe('the default isTerminal and the delays', () => {
  it('classifies as the contract says', () => {
    expect(isTerminalFailure(httpError())).toBe(false);
    for (const status of [408, 425, 429, 500, 502, 503, 504]) {
      expect(isTerminalFailure(httpError(status))).toBe(false);
    }
    for (const status of [400, 401, 403, 404, 422]) {
      expect(isTerminalFailure(httpError(status))).toBe(true);
    }
    expect(isTerminalFailure(new Error('bug'))).toBe(true);
    expect(isTerminalFailure('nope')).toBe(true);
    expect(isTerminalFailure({ name: 'RedisUnavailableError' })).toBe(false);
    expect(isTerminalFailure(new DOMException('timed out', 'TimeoutError'))).toBe(false);
    expect(isTerminalFailure({ isAxiosError: true, code: 'ERR_CANCELED' })).toBe(true);
  });

  it('full jitter under base * 2^attempt, Retry-After as an HTTP date, never past maxDelayMs', () => {
    const policy = { retries: 3, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(retryDelay(policy, 0, new Error('x'), NOW, () => 0.5)).toBe(50);
    expect(retryDelay(policy, 3, new Error('x'), NOW, () => 1)).toBe(800);
    expect(retryDelay(policy, 5, new Error('x'), NOW, () => 1)).toBe(1_000);
    const at = new Date(NOW + 700).toUTCString();
    // HTTP dates have whole seconds: 700 ms ahead rounds down to the second.
    expect(retryDelay(policy, 0, httpError(503, { 'retry-after': at }), NOW)).toBeLessThanOrEqual(
      700,
    );
    expect(retryDelay(policy, 0, httpError(503, { 'retry-after': '5' }), NOW)).toBe(1_000);
  });
});

describe('no session to refresh is not a failure', () => {
  it("a login's 401 through the gated instance reaches its caller as that 401: no cooldown, no onRefreshFailed, and the next one is not refreshed for", async () => {
    const { server, control, gate, onRefreshFailed, failures } = setup({}, null);
    server.current = 'nobody';
    const login = track(server.api.post('/login', { password: 'wrong' }));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    control.call(0).result.resolve(null as never);
    await flush();
    expect(login.status).toBe('rejected');
    expect(login.error).toMatchObject({ isAxiosError: true, response: { status: 401 } });
    expect(onRefreshFailed).not.toHaveBeenCalled();
    expect(failures).toEqual([
      {
        reason: 'unauthorized',
        error: expect.objectContaining({ code: 'NO_SESSION' }),
        noSession: true,
      },
    ]);
    expect(gate.state).toMatchObject({ status: 'idle', failures: 0 });

    const again = track(server.api.post('/login', { password: 'wrong again' }));
    await flush();
    expect(again.error).toMatchObject({ response: { status: 401 } });
    expect(control.refresh).toHaveBeenCalledTimes(1);

    // A login: tokens again, and a later 401 refreshes as usual.
    await gate.setTokens(OLD);
    server.current = 'new';
    const after = track(server.api.get('/me'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(2);
    control.call(1).result.resolve(NEW);
    await flush();
    expect(after.status).toBe('fulfilled');
  });

  it('each queued request rejects with its own 401, also when the refresh rejects with NO_SESSION', async () => {
    const { server, control, gate, onRefreshFailed } = setup();
    const requests = ['/a', '/b'].map((url) => track(server.api.get(url)));
    await flush();
    const { RefreshGateError } = await import('../src/index.js');
    control.call(0).result.reject(new RefreshGateError('NO_SESSION', 'no refresh token'));
    await flush();
    const [a, b] = requests.map((request) => request.error as AxiosError);
    expect(a?.response?.status).toBe(401);
    expect(b?.response?.status).toBe(401);
    expect(a).not.toBe(b);
    expect(a?.config?.url).toBe('/a');
    expect(onRefreshFailed).not.toHaveBeenCalled();
    expect(gate.state.status).toBe('idle');
  });

  it('a request held for a proactive refresh that finds no session goes out as it is', async () => {
    const expiring = { accessToken: 'old', refreshToken: 'r0', expiresAt: NOW + 10_000 };
    const { server, control } = setup({ initialTokens: expiring });
    server.current = null;
    const held = track(server.api.get('/public'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    control.call(0).result.resolve(null as never);
    await flush();
    expect(held.status).toBe('fulfilled');
    expect(server.sent()).toEqual([['/public', 'Bearer old']]);
  });
});
