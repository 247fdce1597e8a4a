/**
 * The facade: getAccessToken, refresh, setTokens, clear, events, state, attach, and the store paths
 * (synchronous, asynchronous, subscribed, seeded).
 */
import axios from 'axios';
import MockAdapter from 'axios-mock-adapter';
import {
  attachRefreshGate,
  createRefreshGate,
  isRefreshGateError,
  memoryStore,
  type RefreshGate,
  type TokenStore,
  type Tokens,
} from '../src/index.js';
import { deferred, flush } from './helpers/deferred.js';
import {
  controlledRefresh,
  countingStore,
  latchedCoordinator,
  mockApi,
  rejectionOf,
  spyLogger,
  type Tracked,
  track,
} from './helpers/gate-fixtures.js';

const gates: RefreshGate[] = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
  jest.useRealTimers();
  jest.restoreAllMocks();
});

function make(options: Partial<Parameters<typeof createRefreshGate>[0]> = {}) {
  const control = controlledRefresh();
  const gate = createRefreshGate({ refresh: control.refresh, ...options });
  gates.push(gate);
  return { gate, control };
}

const initial: Tokens = { accessToken: 'old', refreshToken: 'r1' };
const handlerCount = (manager: unknown) =>
  (manager as { handlers: unknown[] }).handlers.filter((handler) => handler != null).length;

describe('getAccessToken', () => {
  it('answers the stored access token, or null when there is none', async () => {
    const { gate } = make();
    await expect(gate.getAccessToken()).resolves.toBeNull();
    await gate.setTokens({ accessToken: 'a' });
    await expect(gate.getAccessToken()).resolves.toBe('a');
  });

  it('waits for a running refresh and answers its token', async () => {
    const { gate, control } = make({ initialTokens: initial });
    track(gate.refresh());
    await flush();
    const token = track(gate.getAccessToken());
    await flush();
    expect(token.status).toBe('pending');
    control.call(0).result.resolve('new');
    await flush();
    expect(token.value).toBe('new');
  });

  it('refreshes first when the token is about to expire', async () => {
    const { gate, control } = make({
      initialTokens: { accessToken: 'old', expiresAt: Date.now() + 1_000 },
    });
    const token = track(gate.getAccessToken());
    await flush();
    expect(control.call(0).ctx.reason).toBe('expiring');
    control.call(0).result.resolve({ accessToken: 'new', expiresAt: Date.now() + 3_600_000 });
    await flush();
    expect(token.value).toBe('new');
  });

  it('rejects with the refresh failure it waited for', async () => {
    const { gate, control } = make({ initialTokens: initial });
    track(gate.refresh());
    await flush();
    const token = track(gate.getAccessToken());
    const failure = new Error('refresh endpoint down');
    control.call(0).result.reject(failure);
    await flush();
    expect(token.error).toBe(failure);
  });
});

describe('refresh', () => {
  it("runs the refresh with reason 'manual' and the stored tokens, stores and answers the result", async () => {
    const counted = countingStore(initial);
    const { gate, control } = make({ store: counted.store });
    const result = track(gate.refresh());
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    const { ctx } = control.call(0);
    expect(ctx.reason).toBe('manual');
    expect(ctx.tokens).toEqual(initial);
    expect(ctx.signal).toBeInstanceOf(AbortSignal);
    expect('error' in ctx).toBe(false);

    const next = { accessToken: 'new', refreshToken: 'r2' };
    control.call(0).result.resolve(next);
    await flush();
    expect(result.value).toEqual(next);
    expect(counted.peek()).toEqual(next);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });

  it('fails, and unlocks the gate, when the coordinator throws synchronously', async () => {
    const broken = new Error('coordinator broke');
    let calls = 0;
    const { gate, control } = make({
      initialTokens: initial,
      // No cooldown, so the second refresh() may run at once.
      cooldownMs: 0,
      coordinator: {
        runExclusive: (fn) => {
          calls++;
          if (calls === 1) throw broken;
          return fn();
        },
      },
    });
    await expect(gate.refresh()).rejects.toBe(broken);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, failures: 1 });
    const again = track(gate.refresh());
    await flush();
    control.call(0).result.resolve({ accessToken: 'new' });
    await flush();
    expect(again.value).toEqual({ accessToken: 'new' });
  });

  it('joins the refresh in flight', async () => {
    const { gate, control } = make({ initialTokens: initial });
    const calls = [track(gate.refresh()), track(gate.refresh()), track(gate.refresh())];
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    control.call(0).result.resolve('new');
    await flush();
    expect(calls.map((c) => c.value?.accessToken)).toEqual(['new', 'new', 'new']);
    expect(calls[1]?.value).toBe(calls[0]?.value);
  });

  it('runs even with an empty store (the refresh token may be an httpOnly cookie)', async () => {
    const { gate, control } = make();
    const result = track(gate.refresh());
    await flush();
    expect(control.call(0).ctx.tokens).toBeNull();
    control.call(0).result.resolve('from-cookie');
    await flush();
    expect(result.value).toEqual({ accessToken: 'from-cookie' });
  });

  it('rejects with the failure and counts it', async () => {
    const { gate, control } = make({ initialTokens: initial });
    const result = track(gate.refresh());
    await flush();
    const failure = new Error('invalid_grant');
    control.call(0).result.reject(failure);
    await flush();
    expect(result.error).toBe(failure);
    expect(gate.state).toMatchObject({ status: 'cooldown', refreshes: 0, failures: 1 });
    await expect(gate.getAccessToken()).resolves.toBe('old');
  });
});

describe('setTokens', () => {
  it('stores the tokens, uses them on the next request and announces them', async () => {
    const server = mockApi('mine');
    const counted = countingStore();
    const { gate } = make({ store: counted.store });
    gate.attach(server.api);
    const changed = jest.fn();
    gate.on('tokens:changed', changed);

    const tokens = { accessToken: 'mine', refreshToken: 'r' };
    await expect(gate.setTokens(tokens)).resolves.toBeUndefined();
    expect(counted.peek()).toEqual(tokens);
    expect(changed).toHaveBeenCalledWith(tokens);
    await server.api.get('/me');
    expect(server.sent()).toEqual([['/me', 'Bearer mine']]);
  });

  it('refuses unusable tokens with INVALID_TOKENS and keeps the store', async () => {
    const counted = countingStore();
    const { gate } = make({ store: counted.store, initialTokens: initial });
    const error = await rejectionOf(gate.setTokens({ accessToken: 'a\r\nX-Evil: 1' }));
    expect(isRefreshGateError(error) && error.code).toBe('INVALID_TOKENS');
    expect((error as Error).message).toMatch(/setTokens/);
    expect(counted.peek()).toBe(initial);
  });

  it('wins over a refresh in flight: waiters go out with the new tokens, the late result is dropped', async () => {
    const server = mockApi('login');
    const counted = countingStore();
    const { gate, control } = make({ store: counted.store, initialTokens: initial });
    gate.attach(server.api);
    const manual = track(gate.refresh());
    await flush();
    const held = track(server.api.get('/held'));
    await flush();

    await gate.setTokens({ accessToken: 'login', refreshToken: 'r9' });
    await flush();
    expect(control.call(0).ctx.signal.aborted).toBe(true);
    expect(held.status).toBe('fulfilled');
    expect(manual.value).toEqual({ accessToken: 'login', refreshToken: 'r9' });
    expect(server.sent()).toEqual([['/held', 'Bearer login']]);

    control.call(0).result.resolve('late');
    await flush();
    expect(counted.peek()).toEqual({ accessToken: 'login', refreshToken: 'r9' });
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 0, failures: 0 });
  });

  it('ends a cooldown', async () => {
    const { gate, control } = make({ initialTokens: initial });
    const failed = track(gate.refresh());
    await flush();
    control.call(0).result.reject(new Error('down'));
    await flush();
    expect(failed.status).toBe('rejected');
    expect(gate.state.status).toBe('cooldown');
    await gate.setTokens({ accessToken: 'fresh' });
    expect(gate.state.status).toBe('idle');
  });
});

describe('clear', () => {
  it('empties the store, announces null and sends no token afterwards', async () => {
    const server = mockApi(null);
    const counted = countingStore();
    const { gate } = make({ store: counted.store, initialTokens: initial });
    gate.attach(server.api);
    const changed = jest.fn();
    gate.on('tokens:changed', changed);

    await gate.clear();
    expect(counted.peek()).toBeNull();
    expect(counted.store.clear).toHaveBeenCalledTimes(1);
    expect(changed).toHaveBeenCalledWith(null);
    await expect(gate.getAccessToken()).resolves.toBeNull();
    await server.api.get('/public');
    expect(server.sent()).toEqual([['/public', undefined]]);
  });

  it('cancels the waiters of a refresh in flight and drops its late result', async () => {
    const server = mockApi('new');
    const counted = countingStore();
    const { gate, control } = make({ store: counted.store, initialTokens: initial });
    gate.attach(server.api);
    const waiters: Tracked<unknown>[] = [track(server.api.get('/queued'))];
    await flush();
    waiters.push(track(server.api.get('/held')), track(gate.getAccessToken()));
    await flush();
    expect(gate.state.waiting).toBe(3);

    await gate.clear();
    await flush();
    expect(control.call(0).ctx.signal.aborted).toBe(true);
    for (const waiter of waiters) expect(axios.isCancel(waiter.error)).toBe(true);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, failures: 0 });

    control.call(0).result.resolve('new');
    await flush();
    expect(counted.peek()).toBeNull();
    expect(server.sent()).toEqual([['/queued', 'Bearer old']]);
  });
});

describe('events', () => {
  it('reports a 401 flow with payloads, in order', async () => {
    const server = mockApi('new');
    const { gate, control } = make({ initialTokens: initial });
    gate.attach(server.api);
    const log: Array<[string, unknown]> = [];
    for (const event of [
      'refresh:start',
      'refresh:success',
      'refresh:failure',
      'request:queued',
      'request:replayed',
      'tokens:changed',
    ] as const) {
      gate.on(event, (payload) => log.push([event, payload]));
    }

    const first = track(server.api.get('/a'));
    await flush();
    const second = track(server.api.get('/b'));
    await flush();
    const next = { accessToken: 'new', refreshToken: 'r2' };
    control.call(0).result.resolve(next);
    await flush();
    expect([first.status, second.status]).toEqual(['fulfilled', 'fulfilled']);

    const config = (url: string) => expect.objectContaining({ url });
    // tokens:changed comes once, between the start and the replay; its place relative to
    // refresh:success is not part of the contract.
    const changes = log.filter(([event]) => event === 'tokens:changed');
    expect(changes).toEqual([['tokens:changed', next]]);
    const at = log.indexOf(changes[0]!);
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(log.length - 1);
    expect(log.filter(([event]) => event !== 'tokens:changed')).toEqual([
      ['refresh:start', { reason: 'unauthorized' }],
      ['request:queued', { config: config('/a'), reason: 'unauthorized' }],
      ['request:queued', { config: config('/b'), reason: 'held' }],
      ['refresh:success', { reason: 'unauthorized', refreshed: true }],
      ['request:replayed', { config: config('/a'), replays: 1 }],
    ]);
  });

  it('reports a failure with its reason and error', async () => {
    const { gate, control } = make({ initialTokens: initial });
    const failure = jest.fn();
    gate.on('refresh:failure', failure);
    track(gate.refresh());
    await flush();
    const error = new Error('down');
    control.call(0).result.reject(error);
    await flush();
    expect(failure).toHaveBeenCalledTimes(1);
    expect(failure).toHaveBeenCalledWith({ reason: 'manual', error, terminal: true });
  });

  describe('a refresh ended by clear(), setTokens() or destroy() still ends in one event', () => {
    function watched(options: Partial<Parameters<typeof createRefreshGate>[0]> = {}) {
      const onRefreshFailed = jest.fn();
      const made = make({ initialTokens: initial, onRefreshFailed, ...options });
      const log: Array<[string, unknown]> = [];
      for (const event of ['refresh:start', 'refresh:success', 'refresh:failure'] as const) {
        made.gate.on(event, (payload) => log.push([event, payload]));
      }
      return { ...made, log, onRefreshFailed };
    }

    it('clear(): refresh:failure marked aborted, with the cancel error; no failure counted', async () => {
      const { gate, control, log, onRefreshFailed } = watched();
      const waiting = track(gate.refresh());
      await flush();
      await gate.clear();
      await flush();
      expect(waiting.status).toBe('rejected');
      expect(log).toEqual([
        ['refresh:start', { reason: 'manual' }],
        ['refresh:failure', { reason: 'manual', error: waiting.error, aborted: true }],
      ]);
      expect(axios.isCancel(waiting.error)).toBe(true);
      expect(onRefreshFailed).not.toHaveBeenCalled();
      expect(gate.state).toMatchObject({ status: 'idle', failures: 0 });
      // No cooldown: the next refresh starts at once.
      track(gate.refresh());
      await flush();
      expect(control.refresh).toHaveBeenCalledTimes(2);
    });

    it('setTokens(): refresh:success marked replaced; not counted as a refresh', async () => {
      const { gate, log } = watched();
      const waiting = track(gate.refresh());
      await flush();
      const login = { accessToken: 'login', refreshToken: 'r9' };
      await gate.setTokens(login);
      await flush();
      expect(waiting.status).toBe('fulfilled');
      expect(waiting.value).toEqual(login);
      expect(log).toEqual([
        ['refresh:start', { reason: 'manual' }],
        ['refresh:success', { reason: 'manual', refreshed: false, replaced: true }],
      ]);
      expect(gate.state).toMatchObject({ status: 'idle', refreshes: 0, failures: 0 });
    });

    it('destroy(): no event, so a logout-on-failure listener is not run on a dead gate', async () => {
      const { gate, log, onRefreshFailed } = watched();
      // A common listener: log out when a refresh fails. On a destroyed gate, clear() rejects.
      const logout = jest.fn(() => gate.clear());
      gate.on('refresh:failure', logout);
      const waiting = track(gate.refresh());
      await flush();
      gate.destroy();
      await flush();
      expect(waiting.status).toBe('rejected');
      expect(isRefreshGateError(waiting.error) && waiting.error.code).toBe('DESTROYED');
      expect(log).toEqual([['refresh:start', { reason: 'manual' }]]);
      expect(logout).not.toHaveBeenCalled();
      expect(onRefreshFailed).not.toHaveBeenCalled();
    });

    it('clear() from a refresh:start listener: every listener sees start, then failure', async () => {
      jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
      const { gate, control, log } = watched({ queueTimeoutMs: 0 });
      const order: string[] = [];
      gate.on('refresh:start', () => order.push('second listener: start'));
      gate.on('refresh:failure', () => order.push('second listener: failure'));
      const off = gate.on('refresh:start', () => {
        off();
        void gate.clear();
      });
      const refreshed = track(gate.refresh());
      await flush();
      // The caller of refresh() is not left waiting on a refresh that no longer exists.
      expect(refreshed.status).toBe('rejected');
      expect(axios.isCancel(refreshed.error)).toBe(true);
      expect(log.map(([event]) => event)).toEqual(['refresh:start', 'refresh:failure']);
      expect(order).toEqual(['second listener: start', 'second listener: failure']);
      expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
      // The refresh was aborted before it was called, and its timeout timer was cleared.
      expect(control.refresh).not.toHaveBeenCalled();
      expect(jest.getTimerCount()).toBe(0);
    });

    it('setTokens() from a refresh:start listener: the caller gets those tokens', async () => {
      const { gate, log } = watched();
      const login = { accessToken: 'login', refreshToken: 'r9' };
      const off = gate.on('refresh:start', () => {
        off();
        void gate.setTokens(login);
      });
      const refreshed = track(gate.refresh());
      await flush();
      expect(refreshed.status).toBe('fulfilled');
      expect(refreshed.value).toEqual(login);
      expect(log.map(([event]) => event)).toEqual(['refresh:start', 'refresh:success']);
    });
  });

  it('stops calling a listener once its off function ran, and leaves the others', async () => {
    const { gate } = make();
    const stopped = jest.fn();
    const kept = jest.fn();
    const off = gate.on('tokens:changed', stopped);
    gate.on('tokens:changed', kept);
    await gate.setTokens({ accessToken: 'a' });
    off();
    off();
    await gate.setTokens({ accessToken: 'b' });
    expect(stopped).toHaveBeenCalledTimes(1);
    expect(kept).toHaveBeenCalledTimes(2);
  });

  it('announces tokens:changed only when the access token changes', async () => {
    const { gate } = make({ initialTokens: initial });
    const changed = jest.fn();
    gate.on('tokens:changed', changed);
    await gate.setTokens({ accessToken: 'old', refreshToken: 'other' });
    expect(changed).not.toHaveBeenCalled();
    await gate.setTokens({ accessToken: 'new' });
    expect(changed).toHaveBeenCalledTimes(1);
  });

  it('warns about a listener that throws and still calls the others', async () => {
    const logger = spyLogger();
    const { gate } = make({ logger });
    const after = jest.fn();
    gate.on('tokens:changed', () => {
      throw new Error('listener bug');
    });
    gate.on('tokens:changed', after);
    await gate.setTokens({ accessToken: 'a' });
    expect(after).toHaveBeenCalledTimes(1);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringContaining('tokens:changed'),
      expect.objectContaining({ message: 'listener bug' }),
    );
  });
});

describe('state', () => {
  it('goes idle → refreshing → cooldown → idle, counting waiters, refreshes and failures', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const server = mockApi('new');
    const { gate, control } = make({ initialTokens: initial, cooldownMs: 5_000 });
    gate.attach(server.api);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 0, failures: 0 });

    const request = track(server.api.get('/a'));
    await flush();
    expect(gate.state).toMatchObject({
      status: 'refreshing',
      waiting: 1,
      refreshes: 0,
      failures: 0,
    });
    control.call(0).result.reject(new Error('down'));
    await flush();
    expect(request.status).toBe('rejected');
    expect(gate.state).toMatchObject({ status: 'cooldown', waiting: 0, refreshes: 0, failures: 1 });

    jest.advanceTimersByTime(4_999);
    expect(gate.state.status).toBe('cooldown');
    jest.advanceTimersByTime(1);
    expect(gate.state.status).toBe('idle');

    const again = track(gate.refresh());
    await flush();
    control.call(1).result.resolve('new');
    await flush();
    expect(again.status).toBe('fulfilled');
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 1 });
  });

  it('is a snapshot, not a live view', async () => {
    const { gate } = make();
    const before = gate.state;
    track(gate.refresh());
    await flush();
    expect(before.status).toBe('idle');
    expect(gate.state.status).toBe('refreshing');
  });
});

describe('attach', () => {
  it('is idempotent per instance: one pair of interceptors, one refresh, one replay', async () => {
    const server = mockApi('new');
    const { gate, control } = make({ initialTokens: initial });
    const detach = gate.attach(server.api);
    expect(gate.attach(server.api)).toBe(detach);
    expect(handlerCount(server.api.interceptors.request)).toBe(1);
    expect(handlerCount(server.api.interceptors.response)).toBe(1);

    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.resolve('new');
    await flush();
    expect(request.status).toBe('fulfilled');
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(server.sent()).toEqual([
      ['/a', 'Bearer old'],
      ['/a', 'Bearer new'],
    ]);
  });

  it('attachRefreshGate creates and attaches in one call', async () => {
    const server = mockApi('tok');
    const gate = attachRefreshGate(server.api, {
      refresh: async () => 'x',
      initialTokens: { accessToken: 'tok' },
    });
    gates.push(gate);
    await server.api.get('/me');
    expect(server.sent()).toEqual([['/me', 'Bearer tok']]);
  });
});

describe('token placement', () => {
  function echo() {
    const api = axios.create({ baseURL: 'https://api.test' });
    const mock = new MockAdapter(api);
    mock
      .onAny()
      .reply((config) => [200, { headers: { ...config.headers }, params: config.params }]);
    return api;
  }

  it('uses header and scheme; an empty scheme sends the bare token', async () => {
    const api = echo();
    const { gate } = make({
      initialTokens: { accessToken: 'tok' },
      header: 'X-Api-Key',
      scheme: '',
    });
    gate.attach(api);
    const { data } = await api.get('/x');
    expect(data.headers['X-Api-Key']).toBe('tok');
    expect(data.headers.Authorization).toBeUndefined();
  });

  it('places the header as headers.set would: one header whatever its spelling, false kept', async () => {
    const api = echo();
    const { gate } = make({ initialTokens: { accessToken: 'tok' } });
    gate.attach(api);

    const plain = (await api.get('/x')).data.headers;
    expect(plain.Authorization).toBe('Bearer tok');

    // Another spelling already on the request is replaced, not doubled.
    const lower = (await api.get('/x', { headers: { authorization: 'Bearer stale' } })).data
      .headers;
    expect(lower.authorization).toBe('Bearer tok');
    expect(lower.Authorization).toBeUndefined();

    const exact = (await api.get('/x', { headers: { Authorization: 'Bearer stale' } })).data
      .headers;
    expect(exact.Authorization).toBe('Bearer tok');

    // `false` tells axios not to send the header; AxiosHeaders.set leaves it, and so does the gate.
    const off = (await api.get('/x', { headers: { Authorization: false } })).data.headers;
    expect(off.Authorization).toBe(false);
    const offLower = (await api.get('/x', { headers: { authorization: false } })).data.headers;
    expect(offLower.authorization).toBe(false);
    expect(offLower.Authorization).toBeUndefined();
  });

  it('replaces every spelling an earlier interceptor left, and takes plain-object headers', async () => {
    const api = echo();
    const { gate } = make({ initialTokens: { accessToken: 'tok' } });
    gate.attach(api);
    // Registered after the gate, so axios runs it before the gate's interceptor.
    const id = api.interceptors.request.use((config) => {
      (config.headers as unknown as Record<string, string>).authorization = 'Bearer stale';
      return config;
    });
    const both = (await api.get('/x', { headers: { Authorization: 'Bearer old' } })).config;
    const sent = Object.entries(both.headers.toJSON()).filter(
      ([name]) => name.toLowerCase() === 'authorization',
    );
    expect(sent.map(([, value]) => value)).toEqual(['Bearer tok']);
    api.interceptors.request.eject(id);

    api.interceptors.request.use((config) => {
      (config as unknown as { headers: Record<string, string> }).headers = { Accept: 'x/y' };
      return config;
    });
    const plain = (await api.get('/x')).config;
    expect(plain.headers.get('Authorization')).toBe('Bearer tok');
    expect(plain.headers.get('Accept')).toBe('x/y');
  });

  it('sets a header named like an AxiosHeaders method or __proto__ through headers.set', async () => {
    for (const header of ['constructor', '__proto__', 'X-Token']) {
      const api = echo();
      const { gate } = make({ initialTokens: { accessToken: 'tok' }, header, scheme: '' });
      gate.attach(api);
      const config = (await api.get('/x')).config;
      expect(config.headers.get(header)).toBe('tok');
      expect(typeof config.headers.set).toBe('function');
    }
  });

  it('lets applyToken place the token instead', async () => {
    const api = echo();
    const applyToken = jest.fn((config, token: string) => {
      config.params = { ...config.params, access_token: token };
    });
    const { gate } = make({ initialTokens: { accessToken: 'tok' }, applyToken });
    gate.attach(api);
    const { data } = await api.get('/x', { params: { q: 1 } });
    expect(data.params).toEqual({ q: 1, access_token: 'tok' });
    expect(data.headers.Authorization).toBeUndefined();
  });

  it('refreshes on the statusCodes given, and only on shouldRefresh when that is given', async () => {
    const server = mockApi('new');
    server.mock.resetHandlers();
    server.mock.onGet('/legacy').reply(419).onGet('/forbidden').reply(403);
    const { gate, control } = make({ initialTokens: initial, statusCodes: [419] });
    gate.attach(server.api);
    track(server.api.get('/legacy'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    control.call(0).result.resolve('new');
    await flush();

    const other = mockApi('new');
    other.mock.resetHandlers();
    other.mock
      .onGet('/forbidden')
      .reply(403, { error: 'token_expired' })
      .onGet('/plain')
      .reply(401);
    const shouldRefresh = jest.fn(
      (error: { response?: { data?: unknown } }) =>
        (error.response?.data as { error?: string } | undefined)?.error === 'token_expired',
    );
    const second = make({ initialTokens: initial, shouldRefresh });
    second.gate.attach(other.api);
    const plain = await rejectionOf(other.api.get('/plain'));
    expect(axios.isAxiosError(plain) && plain.response?.status).toBe(401);
    expect(second.control.refresh).not.toHaveBeenCalled();
    track(other.api.get('/forbidden'));
    await flush();
    expect(second.control.refresh).toHaveBeenCalledTimes(1);
  });
});

describe('an asynchronous store', () => {
  function asyncStore(initialTokens: Tokens | null) {
    let tokens = initialTokens;
    const listeners = new Set<(tokens: Tokens | null) => void>();
    const store = {
      get: jest.fn(async () => tokens),
      set: jest.fn(async (next: Tokens) => {
        tokens = next;
      }),
      clear: jest.fn(async () => {
        tokens = null;
      }),
      subscribe: jest.fn((listener: (tokens: Tokens | null) => void) => {
        listeners.add(listener);
        return () => {
          listeners.delete(listener);
        };
      }),
    } satisfies TokenStore;
    const push = (next: Tokens | null) => {
      tokens = next;
      for (const listener of listeners) listener(next);
    };
    return { store, push };
  }

  it('is read once for concurrent requests, then served from the last value', async () => {
    const server = mockApi('old');
    const { store } = asyncStore(initial);
    const { gate } = make({ store });
    gate.attach(server.api);

    await Promise.all([server.api.get('/a'), server.api.get('/b'), server.api.get('/c')]);
    await server.api.get('/d');
    expect(store.get).toHaveBeenCalledTimes(1);
    expect(server.sent().map(([, auth]) => auth)).toEqual(Array(4).fill('Bearer old'));
  });

  it('is read again under the refresh lock, and the refreshed token is used without a read', async () => {
    const server = mockApi('new');
    const { store } = asyncStore(initial);
    const { gate, control } = make({ store });
    gate.attach(server.api);

    const request = track(server.api.get('/a'));
    await flush();
    expect(store.get).toHaveBeenCalledTimes(2); // the first read, and the double-check
    expect(control.call(0).ctx.tokens).toEqual(initial);
    control.call(0).result.resolve('new');
    await flush();
    expect(request.status).toBe('fulfilled');
    expect(store.set).toHaveBeenCalledWith({ accessToken: 'new', refreshToken: 'r1' });

    await server.api.get('/b');
    expect(store.get).toHaveBeenCalledTimes(2);
    expect(server.sent().at(-1)).toEqual(['/b', 'Bearer new']);
  });

  it('takes changes from store.subscribe without reading the store', async () => {
    const server = mockApi(null);
    const { store, push } = asyncStore(initial);
    const { gate } = make({ store });
    gate.attach(server.api);
    const changed = jest.fn();
    gate.on('tokens:changed', changed);
    await server.api.get('/a');
    expect(store.subscribe).toHaveBeenCalledTimes(1);

    push({ accessToken: 'from-another-tab' });
    expect(changed).toHaveBeenCalledWith({ accessToken: 'from-another-tab' });
    await server.api.get('/b');
    await expect(gate.getAccessToken()).resolves.toBe('from-another-tab');

    push(null);
    await server.api.get('/c');
    expect(server.sent()).toEqual([
      ['/a', 'Bearer old'],
      ['/b', 'Bearer from-another-tab'],
      ['/c', undefined],
    ]);
    expect(store.get).toHaveBeenCalledTimes(1);
  });

  it('is seeded by initialTokens, which are used at once without waiting for set or get', async () => {
    const server = mockApi('seed');
    const reading = deferred<Tokens | null>();
    const setting = deferred<void>();
    const store: TokenStore = {
      get: jest.fn(() => reading.promise), // a slow storage (AsyncStorage, IndexedDB)
      set: jest.fn(() => setting.promise),
      clear: jest.fn(async () => {}),
    };
    const { gate } = make({ store, initialTokens: { accessToken: 'seed' } });
    gate.attach(server.api);
    expect(store.set).toHaveBeenCalledWith({ accessToken: 'seed' });

    const request = track(server.api.get('/a'));
    const token = track(gate.getAccessToken());
    await flush();
    try {
      expect(request.status).toBe('fulfilled');
      expect(token.value).toBe('seed');
      expect(server.sent()).toEqual([['/a', 'Bearer seed']]);
    } finally {
      reading.resolve(null);
      setting.resolve();
      await flush();
    }
    // What the slow read answers later does not replace the seed.
    await expect(gate.getAccessToken()).resolves.toBe('seed');
  });

  it('is forgotten by clear(): the next request goes out without a token, with no read', async () => {
    const server = mockApi(null);
    const { store } = asyncStore(initial);
    const { gate } = make({ store });
    gate.attach(server.api);
    await server.api.get('/a');
    await gate.clear();
    await server.api.get('/b');
    await expect(gate.getAccessToken()).resolves.toBeNull();
    expect(server.sent()).toEqual([
      ['/a', 'Bearer old'],
      ['/b', undefined],
    ]);
    expect(store.get).toHaveBeenCalledTimes(1);
    expect(store.clear).toHaveBeenCalledTimes(1);
  });

  it('a rejected read fails that request; the next request reads again', async () => {
    const server = mockApi('ok');
    let attempt = 0;
    const store: TokenStore = {
      get: () =>
        attempt++ === 0
          ? Promise.reject(new Error('disk busy'))
          : Promise.resolve({ accessToken: 'ok' }),
      set: async () => {},
      clear: async () => {},
    };
    const { gate } = make({ store });
    gate.attach(server.api);
    const error = await rejectionOf(server.api.get('/a'));
    expect((error as Error).message).toBe('disk busy');
    await expect(server.api.get('/b')).resolves.toMatchObject({ status: 200 });
  });
});

describe('a synchronous store', () => {
  it('is read on every request, so changes made to it directly apply at once', async () => {
    const server = mockApi(null);
    const counted = countingStore(initial);
    const { gate } = make({ store: counted.store });
    gate.attach(server.api);
    await server.api.get('/a');
    counted.store.set({ accessToken: 'direct' });
    await server.api.get('/b');
    expect(server.sent()).toEqual([
      ['/a', 'Bearer old'],
      ['/b', 'Bearer direct'],
    ]);
  });

  it('announces changes it reports through subscribe', () => {
    const counted = countingStore(initial);
    const { gate } = make({ store: counted.store });
    const changed = jest.fn();
    gate.on('tokens:changed', changed);
    counted.push({ accessToken: 'elsewhere' });
    expect(changed).toHaveBeenCalledWith({ accessToken: 'elsewhere' });
  });
});

describe('initialTokens', () => {
  it('seeds the store, without announcing them as a change', async () => {
    const counted = countingStore();
    const { gate } = make({ store: counted.store, initialTokens: initial });
    const changed = jest.fn();
    gate.on('tokens:changed', changed);
    expect(counted.store.set).toHaveBeenCalledWith(initial);
    expect(counted.peek()).toEqual(initial);
    await expect(gate.getAccessToken()).resolves.toBe('old');
    expect(changed).not.toHaveBeenCalled();
  });

  it('warns, and keeps using them, when storing them fails', async () => {
    const logger = spyLogger();
    const failure = new Error('quota exceeded');
    const store: TokenStore = {
      get: () => null,
      set: () => Promise.reject(failure),
      clear: () => {},
    };
    make({ store, initialTokens: initial, logger });
    await flush();
    expect(logger.warn).toHaveBeenCalledWith('storing initialTokens failed', failure);

    const throwing: TokenStore = {
      get: () => null,
      set: () => {
        throw failure;
      },
      clear: () => {},
    };
    const other = spyLogger();
    expect(() => make({ store: throwing, initialTokens: initial, logger: other })).not.toThrow();
    await flush();
    expect(other.warn).toHaveBeenCalledWith('storing initialTokens failed', failure);
  });
});

describe('logger', () => {
  it('logs each decision at debug level: start, queued, held, stale replay, loop guard', async () => {
    const server = mockApi('new');
    const logger = spyLogger();
    const counted = countingStore(initial);
    const { gate, control } = make({ store: counted.store, logger, cooldownMs: 60_000 });
    gate.attach(server.api);
    const said = () => logger.debug.mock.calls.map(([message]) => String(message));

    // A 401 starts the refresh and is queued; a request made meanwhile is held.
    const queued = track(server.api.get('/queued'));
    await flush();
    const held = track(server.api.get('/held'));
    await flush();
    expect(said()).toEqual([
      'refresh: unauthorized',
      'queued for the refresh',
      'held for the refresh',
    ]);
    control.call(0).result.resolve('new');
    await flush();
    expect(queued.status).toBe('fulfilled');
    expect(held.status).toBe('fulfilled');

    // A stale 401: sent with 'new', answered once the token moved on to 'newer'.
    logger.debug.mockClear();
    let calls = 0;
    const staleApi = axios.create({ baseURL: 'https://api.test' });
    new MockAdapter(staleApi).onGet('/stale').reply(() => {
      calls += 1;
      if (calls > 1) return [200, {}];
      server.current = 'newer';
      counted.push({ accessToken: 'newer' });
      return [401, {}];
    });
    gate.attach(staleApi);
    const stale = track(staleApi.get('/stale'));
    await flush();
    expect(stale.status).toBe('fulfilled');
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(said()).toEqual(['stale 401: replayed']);

    // The loop guard: the token just obtained, refused before any response accepted it.
    logger.debug.mockClear();
    server.current = 'other';
    const refused = track(server.api.get('/refused'));
    await flush();
    control.call(1).result.resolve('fresh');
    await flush();
    const again = track(server.api.get('/again'));
    await flush();
    expect(refused.status).toBe('rejected');
    expect(again.status).toBe('rejected');
    expect(control.refresh).toHaveBeenCalledTimes(2);
    expect(said()).toContain('loop guard: a fresh token was refused');
  });

  it('logs at debug level when the store already holds newer tokens under the lock (adopted)', async () => {
    const { coordinator, open } = latchedCoordinator();
    const store = memoryStore(initial); // no subscribe: the gate finds the peer's tokens itself
    const server = mockApi('peer');
    const logger = spyLogger();
    const { gate, control } = make({ store, coordinator, logger });
    gate.attach(server.api);
    const request = track(server.api.get('/a'));
    await flush();
    store.set({ accessToken: 'peer' });
    open();
    await flush();
    expect(request.status).toBe('fulfilled');
    expect(control.refresh).not.toHaveBeenCalled();
    expect(logger.debug.mock.calls.map(([message]) => String(message))).toContain(
      'adopted: the store holds newer tokens',
    );
  });

  it('warns when shouldRefresh throws, and the caller gets the original error', async () => {
    const server = mockApi('new');
    const logger = spyLogger();
    const bug = new Error('shouldRefresh bug');
    const { gate, control } = make({
      initialTokens: initial,
      logger,
      shouldRefresh: () => {
        throw bug;
      },
    });
    gate.attach(server.api);
    const error = await rejectionOf(server.api.get('/a'));
    expect(axios.isAxiosError(error) && error.response?.status).toBe(401);
    expect(control.refresh).not.toHaveBeenCalled();
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('shouldRefresh'), bug);
  });

  it('warns when getExpiry throws, and sends the token as is', async () => {
    const server = mockApi('old');
    const logger = spyLogger();
    const bug = new Error('getExpiry bug');
    const { gate, control } = make({
      initialTokens: initial,
      logger,
      getExpiry: () => {
        throw bug;
      },
    });
    gate.attach(server.api);
    await server.api.get('/a');
    await server.api.get('/b');
    expect(control.refresh).not.toHaveBeenCalled();
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('getExpiry'), bug);
  });

  it('warns when onRefreshFailed throws, and the waiters still get the refresh failure', async () => {
    const logger = spyLogger();
    const bug = new Error('onRefreshFailed bug');
    const { gate, control } = make({
      initialTokens: initial,
      logger,
      onRefreshFailed: () => {
        throw bug;
      },
    });
    const result = track(gate.refresh());
    await flush();
    const failure = new Error('down');
    control.call(0).result.reject(failure);
    await flush();
    expect(result.error).toBe(failure);
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('onRefreshFailed'), bug);
  });

  it('uses a freshly obtained token that expires within the window as is, without a warning', async () => {
    // Refreshed halfway through its life instead (rule 6), not before every request.
    const server = mockApi('short');
    const logger = spyLogger();
    const { gate, control } = make({ initialTokens: initial, logger });
    gate.attach(server.api);
    track(gate.refresh());
    await flush();
    control.call(0).result.resolve({ accessToken: 'short', expiresAt: Date.now() + 10_000 });
    await flush();

    await server.api.get('/a');
    await server.api.get('/b');
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(server.sent()).toEqual([
      ['/a', 'Bearer short'],
      ['/b', 'Bearer short'],
    ]);
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it("defaults to console.warn with the package's prefix", async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const server = mockApi(null, null);
    const { gate } = make({ initialTokens: initial });
    gate.attach(server.api);
    await server.api.get('https://api.test/x');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toBe('[axios-refresh-gate]');
  });
});
