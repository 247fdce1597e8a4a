/**
 * Clock skew: with `clockSkew: 'auto'` (the default) the gate estimates the server's clock from
 * the `Date` header of responses from the origins the token goes to, and judges a JWT's `exp` on
 * it. A device whose clock is 5 minutes fast or slow refreshes once per expiry and never sends an
 * expired token; with `clockSkew: false` the fast one sends nothing but refreshes. The default
 * expiry is the earlier of `expiresAt` and the JWT's `exp`. Fake clock, mock server with a clock
 * of its own.
 */
import axios from 'axios';
import MockAdapter from 'axios-mock-adapter';
import { ClockSkew } from '../src/clock-skew.js';
import {
  createRefreshGate,
  memoryStore,
  type RefreshGateOptions,
  type Tokens,
} from '../src/index.js';
import { flush } from './helpers/deferred.js';
import { authOf, controlledRefresh, jwt, track } from './helpers/gate-fixtures.js';

const SERVER_NOW = 1_700_000_000_000;

const gates: Array<{ destroy(): void }> = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
  jest.useRealTimers();
});

/** A JWT the server issues now, living `lifeMs` by the server's clock. */
const issue = (serverNow: number, lifeMs: number, n: number): Tokens => ({
  accessToken: jwt({
    sub: 'alice',
    n,
    iat: Math.floor(serverNow / 1000),
    exp: Math.floor((serverNow + lifeMs) / 1000),
  }),
  refreshToken: `r${n}`,
});

/**
 * A device whose clock is `skewMs` off the server's, and a server that answers `Date` with its
 * own clock, accepts only the current token and refuses one past its `exp` by its own clock.
 */
function world(skewMs: number, options: Partial<RefreshGateOptions> = {}) {
  jest.useFakeTimers({
    now: SERVER_NOW + skewMs,
    doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'],
  });
  const serverNow = () => Date.now() - skewMs;
  let current: Tokens = issue(serverNow(), 120_000, 0);
  const sentExpired: string[] = [];
  const api = axios.create({ baseURL: 'https://api.test' });
  new MockAdapter(api).onAny().reply((config) => {
    const date = new Date(serverNow()).toUTCString();
    if (config.url === '/login') return [200, current, { date }];
    const auth = authOf(config);
    const exp = JSON.parse(
      Buffer.from((auth ?? '..').split('.')[1] ?? '', 'base64url').toString() || '{}',
    ).exp;
    if (typeof exp === 'number' && exp * 1000 <= serverNow()) sentExpired.push(String(config.url));
    return auth === `Bearer ${current.accessToken}` && exp * 1000 > serverNow()
      ? [200, { ok: true }, { date }]
      : [401, {}, { date }];
  });
  const control = controlledRefresh();
  const gate = createRefreshGate({
    refresh: control.refresh,
    logger: { debug() {}, warn() {} },
    ...options,
  });
  gates.push(gate);
  gate.attach(api);
  let n = 0;
  /** The server rotates: the refresh call gets a new 2-minute token. */
  const answer = async (index: number) => {
    current = issue(serverNow(), 120_000, ++n);
    control.call(index).result.resolve(current);
    await flush();
  };
  const login = async () => {
    const { data } = await api.post('/login', { skipAuthRefresh: true });
    await gate.setTokens(data as Tokens);
  };
  return { api, gate, control, answer, login, sentExpired };
}

describe.each([
  ['5 minutes fast', 300_000],
  ['5 minutes slow', -300_000],
])('a device whose clock is %s', (_, skewMs) => {
  it('sends the token while it lives, refreshes once near its end, never sends it expired', async () => {
    const { api, control, answer, login, sentExpired } = world(skewMs);
    await login();
    for (let i = 0; i < 5; i++) {
      const request = track(api.get(`/a${i}`));
      await flush();
      expect(request.status).toBe('fulfilled');
      await jest.advanceTimersByTimeAsync(10_000);
    }
    expect(control.refresh).not.toHaveBeenCalled();
    // 2 minutes on by the server's clock: due (within the window), one refresh for a burst.
    await jest.advanceTimersByTimeAsync(60_000);
    const burst = ['/b1', '/b2', '/b3'].map((url) => track(api.get(url)));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    await answer(0);
    expect(burst.map((request) => request.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(sentExpired).toEqual([]);
  });
});

it("without the estimate (clockSkew: false) a fast device takes the server's fresh token as expired", async () => {
  const { api, control, login } = world(300_000, { clockSkew: false });
  await login();
  const request = track(api.get('/a'));
  await flush();
  // The token looks 3 minutes past its exp: never sent; a refresh instead.
  expect(control.refresh).toHaveBeenCalledTimes(1);
  expect(request.status).toBe('pending');
});

it("a fast device that has heard no Date yet: the refreshed token's iat reads the server's clock, and the token is sent", async () => {
  const { api, gate, control, answer, sentExpired } = world(300_000);
  // Tokens from storage, and the refresh made with plain axios: no response has said the time.
  await gate.setTokens(issue(SERVER_NOW, 120_000, 0));
  const request = track(api.get('/a'));
  await flush();
  expect(control.refresh).toHaveBeenCalledTimes(1);
  await answer(0);
  expect(request.status).toBe('fulfilled');
  expect(control.refresh).toHaveBeenCalledTimes(1);
  expect(sentExpired).toEqual([]);
});

it('a refreshed token expired on arrival by this clock fails the waiters, but is stored: the next refresh presents the new refresh token', async () => {
  const store = memoryStore();
  const { api, gate, control, answer } = world(300_000, {
    clockSkew: false,
    cooldownMs: 1_000,
    store,
  });
  await gate.setTokens(issue(SERVER_NOW, 120_000, 0));
  const request = track(api.get('/a'));
  await flush();
  await answer(0);
  expect(request.status).toBe('rejected');
  expect(request.error).toMatchObject({ code: 'INVALID_TOKENS' });
  // The server rotated: r0 is spent. Dropping the pair would present it again (reuse).
  expect(store.get()).toMatchObject({ refreshToken: 'r1' });
  await jest.advanceTimersByTimeAsync(1_000);
  track(api.get('/b'));
  await flush();
  expect(control.refresh).toHaveBeenCalledTimes(2);
  expect(control.call(1).ctx.tokens).toMatchObject({ refreshToken: 'r1' });
});

it('the default expiry is the earlier of expiresAt and the JWT exp', async () => {
  const { gate } = world(0);
  const exp = Math.floor((SERVER_NOW + 60_000) / 1000);
  await gate.setTokens({ accessToken: jwt({ exp }), expiresAt: SERVER_NOW + 600_000 });
  // The JWT's minute, not expiresAt's ten: 30 s before it, the token is due.
  jest.setSystemTime(SERVER_NOW + 31_000);
  const refreshing = track(gate.getAccessToken());
  await flush();
  expect(gate.state.status).toBe('refreshing');
  gate.destroy();
  await refreshing.promise;
});

describe('the estimate', () => {
  it('is the median of the last samples, ignores a wrong header, and counts no difference under 2 s', () => {
    const skew = new ClockSkew();
    const now = SERVER_NOW;
    const at = (offset: number) => new Date(now + offset).toUTCString();
    skew.observe(at(300_000), now);
    expect(Math.abs(skew.offset - 300_000)).toBeLessThanOrEqual(1_000);
    skew.observe(at(301_000), now);
    skew.observe(at(-86_400_000), now); // a cache's stale answer
    expect(Math.abs(skew.offset - 300_000)).toBeLessThanOrEqual(1_000);
    skew.observe('not a date', now);
    skew.observe(undefined, now);
    expect(Math.abs(skew.offset - 300_000)).toBeLessThanOrEqual(1_000);
    const fine = new ClockSkew();
    fine.observe(new Date(now + 1_000).toUTCString(), now);
    expect(fine.offset).toBe(0);
  });
});
