/**
 * Adversarial review of issue 13 ("real-life failures"): the retry loop inside the single flight,
 * its offline waits, the no-session outcome, expired-on-arrival tokens, the clock-skew estimate,
 * and the subscribe() snapshot. Every `it` states the behaviour expected (by API.md's rules or the
 * README) and failed on the code under review. Deterministic: fake timers (setImmediate, nextTick
 * and queueMicrotask real), every refresh call a deferred, jitter pinned with a mocked Math.random.
 */
import axios from 'axios';
import MockAdapter from 'axios-mock-adapter';
import {
  type Coordinator,
  createRefreshGate,
  type HeldLock,
  type RefreshGateOptions,
  type Tokens,
} from '../src/index.js';
import { type Deferred, deferred, flush } from './helpers/deferred.js';
import { authOf, controlledRefresh, jwt, mockApi, track } from './helpers/gate-fixtures.js';
import {
  httpError,
  keepGate,
  NEW,
  NOW,
  OLD,
  retryWorld,
  useRetryClock,
} from './helpers/retry-fixtures.js';

const quiet = { debug() {}, warn() {} };

useRetryClock();
const setup = (options: Partial<RefreshGateOptions> = {}, tokens: Tokens | null = OLD) =>
  retryWorld({ logger: quiet, ...options }, tokens);

/** A browser scope on globalThis (navigator.onLine, add/removeEventListener), counted. */
function fakeBrowserScope(onLine: boolean) {
  const scope = globalThis as unknown as Record<string, unknown>;
  const saved = {
    navigator: Object.getOwnPropertyDescriptor(globalThis, 'navigator'),
    add: scope.addEventListener,
    remove: scope.removeEventListener,
  };
  const navigator = { onLine };
  const listeners = new Map<string, Set<() => void>>();
  Object.defineProperty(globalThis, 'navigator', { value: navigator, configurable: true });
  scope.addEventListener = (type: string, listener: () => void) => {
    const set = listeners.get(type) ?? new Set();
    set.add(listener);
    listeners.set(type, set);
  };
  scope.removeEventListener = (type: string, listener: () => void) => {
    listeners.get(type)?.delete(listener);
  };
  return {
    navigator,
    count: (type: string) => listeners.get(type)?.size ?? 0,
    restore() {
      if (saved.navigator) Object.defineProperty(globalThis, 'navigator', saved.navigator);
      else delete scope.navigator;
      scope.addEventListener = saved.add;
      scope.removeEventListener = saved.remove;
    },
  };
}

describe('issue 13, adversarial', () => {
  // ---- 1. a retry call after destroy()/clear() ------------------------------------------------
  it('no retry call starts after destroy() that came while the lock confirmed the retry (rule 13)', async () => {
    // A lock that is never lost (as broadcastCoordinator's Web Lock) and confirms asynchronously
    // (its ledger is IndexedDB; Redis' confirm is a round trip).
    const confirms: Array<Deferred<undefined>> = [];
    let calls = 0;
    const lock: HeldLock = {
      signal: new AbortController().signal,
      confirm: () => {
        calls++;
        if (calls === 1) return Promise.resolve(undefined);
        const pending = deferred<undefined>();
        confirms.push(pending);
        return pending.promise;
      },
    };
    const coordinator: Coordinator = { runExclusive: (fn) => fn(lock) };
    const { server, control, gate } = setup({
      coordinator,
      refreshRetry: { baseDelayMs: 100, maxDelayMs: 100 },
    });
    const request = track(server.api.get('/a'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    control.call(0).result.reject(httpError()); // transient: retried after 100 ms
    await flush();
    await jest.advanceTimersByTimeAsync(100);
    expect(confirms).toHaveLength(1); // the retry's confirm is under way

    gate.destroy();
    confirms[0]?.resolve(undefined);
    await flush();

    // Nothing starts after destroy(): no refresh runs. (The code under review calls it again.)
    expect(control.refresh).toHaveBeenCalledTimes(1);
    await request.promise;
    expect(request.status).toBe('rejected');
  });

  // ---- 2. a refresh:retry listener that destroys the gate --------------------------------------
  it('a refresh:retry listener that calls destroy() leaves no timer and no online listener behind (rule 13)', async () => {
    const browser = fakeBrowserScope(false);
    try {
      const { server, control, gate } = setup({
        refreshRetry: { baseDelayMs: 1_000, maxDelayMs: 1_000 },
      });
      gate.on('refresh:retry', () => gate.destroy());
      const request = track(server.api.get('/a'));
      await flush();
      control.call(0).result.reject(httpError());
      await flush();
      const timersAfterDestroy = jest.getTimerCount();
      await jest.advanceTimersByTimeAsync(1_000);
      await flush();
      expect(request.status).toBe('rejected');
      // The pause subscribed to a signal that was already aborted: its timer runs, then (offline)
      // it waits for `online` on globalThis, forever.
      expect({ timersAfterDestroy, onlineListeners: browser.count('online') }).toEqual({
        timersAfterDestroy: 0,
        onlineListeners: 0,
      });
    } finally {
      browser.restore();
    }
  });

  // ---- 3. gate.refresh() resolves with an expired-on-arrival pair ------------------------------
  it('gate.refresh() rejects with INVALID_TOKENS when the refresh gave a pair already expired (rule 5)', async () => {
    const { control, gate, onRefreshFailed } = setup({ clockSkew: false });
    const manual = track(gate.refresh());
    await flush();
    control.call(0).result.resolve({ accessToken: 'late', refreshToken: 'r1', expiresAt: NOW - 1 });
    await flush();
    // The flight failed (onRefreshFailed, cooldown) ...
    expect(onRefreshFailed).toHaveBeenCalledTimes(1);
    expect(gate.state).toMatchObject({ status: 'cooldown', failures: 1 });
    // ... yet refresh() fulfilled with the expired tokens: Flight.result() sees `tokens` on the
    // failed outcome.
    expect(manual.status).toBe('rejected');
    expect(manual.error).toMatchObject({ code: 'INVALID_TOKENS' });
  });

  // ---- 4. getAccessToken() after NO_SESSION --------------------------------------------------
  it('getAccessToken() resolves null, not the token past its expiry, when the refresh finds no session (README, rule 6)', async () => {
    const { control, gate } = setup(
      { clockSkew: false },
      { accessToken: 'old', refreshToken: 'r0', expiresAt: NOW + 60_000 },
    );
    jest.setSystemTime(NOW + 61_000); // the stored token is past its expiry now
    const token = track(gate.getAccessToken());
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    control.call(0).result.resolve(null as never);
    await flush();
    expect(token.status).toBe('fulfilled');
    expect(token.value).toBeNull();
  });

  // ---- 5. onRefreshFailed's `terminal` for a non-Error failure --------------------------------
  it("onRefreshFailed says terminal: false for a failure the app's isTerminal called transient, also when it is not an Error", async () => {
    const isTerminal = jest.fn((error: unknown) => error !== 'offline');
    const { server, control, onRefreshFailed, retries } = setup({
      isTerminal,
      refreshRetry: { retries: 1, baseDelayMs: 10 },
    });
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.reject('offline');
    await flush();
    expect(retries).toHaveLength(1); // judged transient: retried
    await jest.advanceTimersByTimeAsync(10);
    control.call(1).result.reject('offline');
    await flush();
    expect(request.status).toBe('rejected');
    // The flight judged the raw value; the gate judges the Error wrapper asError() made of it
    // and tells the README's "log out when terminal" recipe to log the user out.
    expect(onRefreshFailed).toHaveBeenCalledWith(expect.anything(), { terminal: false });
  });

  // ---- 6. the median of two Date samples -----------------------------------------------------
  it('one wrong Date header (the second response) does not move the clock estimate: a fresh JWT is not refreshed', async () => {
    const token = jwt({ exp: Math.floor(NOW / 1000) + 600 }); // 10 minutes left
    const api = axios.create({ baseURL: 'https://api.test' });
    const mock = new MockAdapter(api);
    const dates = [new Date(NOW).toUTCString(), new Date(NOW + 3_600_000).toUTCString()];
    mock.onAny().reply(() => [200, {}, { date: dates.shift() ?? new Date(NOW).toUTCString() }]);
    const control = controlledRefresh();
    const gate = createRefreshGate({
      refresh: control.refresh,
      initialTokens: { accessToken: token, refreshToken: 'r0' },
      logger: quiet,
    });
    keepGate(gate);
    gate.attach(api);

    await api.get('/a'); // Date: right
    jest.advanceTimersByTime(1_000);
    await api.get('/b'); // Date: an hour ahead (a proxy, a cache)
    jest.advanceTimersByTime(1_000);
    const third = track(api.get('/c'));
    await flush();
    // "the median of the last 7 ... one wrong header moves nothing": with two samples the upper
    // one is taken, so the token is judged expired and refreshed (and, without `iat`, every
    // token the refresh brings is "expired on arrival": the session is locked out).
    expect(control.refresh).not.toHaveBeenCalled();
    expect(third.status).toBe('fulfilled');
    expect(authOf(mock.history.at(-1) ?? {})).toBe(`Bearer ${token}`);
  });

  // ---- 7. the loop guard and the unjudged token ---------------------------------------------
  it('a server that refuses every fresh token causes no refresh loop when the token is unjudged (rule 6)', async () => {
    // A device minutes fast with JWTs without `iat`, and no `Date` readable (cross-origin, not
    // exposed by CORS): the refreshed token looks expired and is trusted as "unjudged".
    const server = mockApi('never-accepted');
    const control = controlledRefresh();
    const gate = createRefreshGate({
      refresh: control.refresh,
      initialTokens: OLD,
      logger: quiet,
    });
    keepGate(gate);
    gate.attach(server.api);
    const unjudged = () => jwt({ exp: Math.floor(NOW / 1000) - 60, sub: String(Math.random()) });

    const first = track(server.api.get('/a'));
    await flush();
    control.call(0).result.resolve({ accessToken: unjudged(), refreshToken: 'r1' });
    await flush();
    expect(first.status).toBe('rejected'); // its replay's own 401
    expect(control.refresh).toHaveBeenCalledTimes(1);

    // Right after: the token just obtained is refused again. The loop guard must hand the 401 to
    // the caller; RefreshPolicy.refuses() reads the raw expiry (past) and refreshes every time.
    const second = track(server.api.get('/b'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(second.status).toBe('rejected');
  });

  // ---- 8. a subscribe listener's re-entrant clear() ------------------------------------------
  it('a subscribe listener that calls clear() when a refresh ends: tokens:changed ends with null, as the gate does (rule 17)', async () => {
    const { server, control, gate } = setup();
    const changes: Array<string | null> = [];
    gate.on('tokens:changed', (tokens) => changes.push(tokens?.accessToken ?? null));
    let cleared = false;
    gate.subscribe(() => {
      if (!cleared && gate.state.refreshes === 1) {
        cleared = true;
        void gate.clear();
      }
    });
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.resolve(NEW);
    await flush();
    expect(cleared).toBe(true);
    expect(gate.tokens).toBeNull();
    expect(request.status).toBe('rejected');
    // The listener runs inside the 'settled' transition (WaiterQueue.resolveAll -> changed),
    // before #announce(outcome.tokens): the event stream says 'new' after the logout.
    expect(changes.at(-1)).toBeNull();
  });

  // ---- 9. Retry-After garbage ----------------------------------------------------------------
  it('a Retry-After that is neither delta-seconds nor an HTTP date ("1.5", "-5") falls back to backoff, not 0 ms', async () => {
    const { server, control, retries } = setup();
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.reject(httpError(503, { 'retry-after': '1.5' }));
    await flush();
    await jest.advanceTimersByTimeAsync(2_000);
    control.call(1).result.reject(httpError(503, { 'retry-after': '-5' }));
    await flush();
    await jest.advanceTimersByTimeAsync(2_000);
    control.call(2).result.resolve(NEW);
    await flush();
    // V8's Date.parse reads "1.5" and "-5" as dates in 2001: Math.max(0, past - now) = 0.
    const delays = retries.map((retry) => (retry as { delayMs: number }).delayMs);
    expect(request.status).toBe('fulfilled');
    expect(delays).toHaveLength(2);
    expect(delays).not.toContain(0);
  });

  // ---- 10. subscribe listeners after destroy() ----------------------------------------------
  it('a subscribe listener that calls destroy() stops the delivery: no other listener is called on a dead gate', async () => {
    const { server, control, gate } = setup();
    const afterDestroy = jest.fn();
    let destroyed = false;
    gate.subscribe(() => {
      if (!destroyed && gate.state.status === 'refreshing') {
        destroyed = true;
        gate.destroy();
      }
    });
    gate.subscribe(() => {
      if (destroyed) afterDestroy();
    });
    const request = track(server.api.get('/a'));
    await flush();
    expect(destroyed).toBe(true);
    // The emitter stops its delivery when a listener destroys the gate; #changed() does not.
    expect(afterDestroy).not.toHaveBeenCalled();
    expect(control.refresh).toHaveBeenCalledTimes(0);
    await request.promise;
  });

  // ---- 11. the cooldown timer without listeners ---------------------------------------------
  it('the cooldown timer goes when the last subscribe listener leaves', async () => {
    const { server, control, gate } = setup({ refreshRetry: false, cooldownMs: 60_000 });
    const unsubscribe = gate.subscribe(() => {});
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.reject(httpError(400));
    await flush();
    expect(request.status).toBe('rejected');
    expect(gate.state.status).toBe('cooldown');
    unsubscribe();
    // Nobody listens: nothing to tell at the cooldown's end (in Node it keeps the process up).
    expect(jest.getTimerCount()).toBe(0);
  });
});
