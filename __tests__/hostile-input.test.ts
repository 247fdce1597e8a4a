/**
 * Hostile input (rules 11, 12 and 14 against an adversary): a refresh endpoint or a store that
 * hands back something shaped to hurt (a megabyte of token, non-ASCII, CR/LF to inject a header,
 * `__proto__` keys, a polluted Object.prototype) is refused or ignored: nothing crashes, no header
 * is injected, the store keeps what it had. And the logger never gets a secret: no access token,
 * refresh token or header value, in any argument, however deep, and no query string.
 */
import { inspect } from 'node:util';
import axios, { type AxiosInstance, type AxiosRequestConfig, isAxiosError } from 'axios';
import MockAdapter from 'axios-mock-adapter';
import {
  createRefreshGate,
  isRefreshGateError,
  type RefreshContext,
  type RefreshGate,
  type RefreshGateOptions,
  type TokenStore,
  type Tokens,
} from '../src/index.js';
import { deferred, flush } from './helpers/deferred.js';
import {
  BASE,
  controlledRefresh,
  countingStore,
  mockApi,
  spyLogger,
  type Tracked,
  track,
} from './helpers/gate-fixtures.js';

jest.setTimeout(10_000);

const gates: RefreshGate[] = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
});

const initial: Tokens = { accessToken: 'old', refreshToken: 'r1' };
const MAX = 16_384;

/** Every header of every request the mock adapter saw, as `name: value` lines. */
function headerLines(mock: MockAdapter): string[] {
  return mock.history.flatMap((config) => {
    const headers = axios.AxiosHeaders.from(config.headers as never).toJSON() as Record<
      string,
      unknown
    >;
    return Object.entries(headers).map(([name, value]) => `${name}: ${String(value)}`);
  });
}

/** A header value short enough for a failure message (a megabyte of token is not). */
const brief = (value: string | undefined) =>
  value !== undefined && value.length > 80
    ? `${value.slice(0, 40)}… (${value.length} characters)`
    : value;

/** No request went out with a header built from `bad`, nor with a header a CR/LF could add. */
function expectNothingInjected(mock: MockAdapter, bad?: string) {
  const offending = headerLines(mock).filter(
    (line) =>
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point
      /[\r\n\x00]/.test(line) ||
      line.toLowerCase().includes('x-injected') ||
      (bad !== undefined && bad.length > 3 && line.includes(bad.slice(0, 64))),
  );
  expect(offending.map(brief)).toEqual([]);
}

describe('a refresh that resolves to something hostile', () => {
  const mb = 'a'.repeat(1024 * 1024);
  const hostile: Array<[string, () => unknown]> = [
    ['a 1 MB token string', () => mb],
    ['Tokens with a 1 MB accessToken', () => ({ accessToken: mb, refreshToken: 'r2' })],
    [`a ${MAX + 1}-character token string`, () => 'b'.repeat(MAX + 1)],
    [
      `Tokens with a ${MAX + 1}-character accessToken`,
      () => ({ accessToken: 'b'.repeat(MAX + 1) }),
    ],
    ['a non-ASCII token (é)', () => 'tok\u00e9n'],
    ['a non-ASCII token (Cyrillic look-alike)', () => 't\u043eken'],
    ['a non-ASCII token (no-break space)', () => 'tok\u00a0en'],
    ['a non-ASCII token (line separator)', () => 'tok\u2028en'],
    ['a non-ASCII token (emoji)', () => ({ accessToken: 'tok\u{1f511}en' })],
    ['a non-ASCII token (full-width letters)', () => '\uff54\uff4f\uff4b'],
    ['CR LF and a header', () => 'tok\r\nX-Injected: 1'],
    ['a lone CR', () => 'tok\rX-Injected: 1'],
    ['a lone LF', () => 'tok\nX-Injected: 1'],
    ['CR LF CR LF and a body', () => 'tok\r\n\r\nGET /x HTTP/1.1'],
    ['Tokens with CR LF in accessToken', () => ({ accessToken: 'tok\r\nX-Injected: 1' })],
    ['a NUL', () => 'tok\u0000en'],
    ['a DEL', () => 'tok\u007fen'],
    ['a trailing CR LF', () => 'token\r\n'],
    ['JSON with a "__proto__" key', () => JSON.parse('{"__proto__":{"accessToken":"x"}}')],
    [
      'JSON with "__proto__" and "constructor" keys',
      () =>
        JSON.parse(
          '{"__proto__":{"accessToken":"x"},"constructor":{"prototype":{"accessToken":"y"}}}',
        ),
    ],
    ['an object whose prototype has accessToken', () => Object.create({ accessToken: 'x' })],
    [
      'an object whose prototype has all three fields',
      () => Object.create({ accessToken: 'x', refreshToken: 'r', expiresAt: Date.now() + 60_000 }),
    ],
  ];

  it.each(hostile)('%s: INVALID_TOKENS for every waiter, the store unchanged', async (_, make) => {
    const value = make();
    const server = mockApi('new');
    const control = controlledRefresh();
    const { store, peek } = countingStore();
    const onRefreshFailed = jest.fn();
    const gate = createRefreshGate({
      refresh: control.refresh,
      store,
      initialTokens: initial,
      onRefreshFailed,
      logger: spyLogger(),
    });
    gates.push(gate);
    gate.attach(server.api);
    const before = peek();

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
    control.call(0).result.resolve(value as Tokens);
    await flush();

    const error = waiters[0]!.error;
    expect(isRefreshGateError(error) && error.code).toBe('INVALID_TOKENS');
    for (const waiter of waiters) {
      expect(waiter.status).toBe('rejected');
      expect(waiter.error).toBe(error);
    }
    // The message may end up in a log: it never repeats the token, nor a megabyte of it.
    expect((error as Error).message.length).toBeLessThan(500);
    expect((error as Error).message).not.toContain('X-Injected');
    expect(peek()).toBe(before);
    expect(store.set).toHaveBeenCalledTimes(1); // the initialTokens, nothing since
    expect(onRefreshFailed).toHaveBeenCalledTimes(1);
    expect(server.sent()).toEqual([['/queued', 'Bearer old']]);
    expectNothingInjected(server.mock, typeof value === 'string' ? value : undefined);
    expect(gate.state).toMatchObject({ status: 'cooldown', waiting: 0, failures: 1, refreshes: 0 });
  });
});

describe(`the length limit: ${MAX} characters`, () => {
  it.each([
    ['a string', (token: string) => token],
    ['Tokens', (token: string) => ({ accessToken: token, refreshToken: 'r2' })],
  ])(`%s of exactly ${MAX} characters is accepted and sent`, async (_, wrap) => {
    const token = `${'c'.repeat(MAX - 1)}z`;
    const server = mockApi(token);
    const { store, peek } = countingStore();
    const gate = createRefreshGate({
      refresh: async () => wrap(token) as Tokens,
      store,
      initialTokens: initial,
    });
    gates.push(gate);
    gate.attach(server.api);

    await expect(server.api.get('/me')).resolves.toMatchObject({ status: 200 });
    expect(server.sent()).toEqual([
      ['/me', 'Bearer old'],
      ['/me', `Bearer ${token}`],
    ]);
    expect(peek()?.accessToken).toBe(token);
    await expect(gate.getAccessToken()).resolves.toBe(token);
  });

  it.each([
    ['a string', (token: string) => token],
    ['Tokens', (token: string) => ({ accessToken: token, refreshToken: 'r2' })],
  ])(`%s of ${MAX + 1} characters is refused with INVALID_TOKENS`, async (_, wrap) => {
    const token = 'c'.repeat(MAX + 1);
    const server = mockApi(token);
    const { store, peek } = countingStore();
    const gate = createRefreshGate({
      refresh: async () => wrap(token) as Tokens,
      store,
      initialTokens: initial,
    });
    gates.push(gate);
    gate.attach(server.api);

    const error = await server.api.get('/me').catch((e: unknown) => e);
    expect(isRefreshGateError(error) && error.code).toBe('INVALID_TOKENS');
    expect(server.sent()).toEqual([['/me', 'Bearer old']]);
    expect(peek()).toEqual(initial);
  });

  it(`setTokens() with a ${MAX + 1}-character token is refused too, and nothing changes`, async () => {
    const server = mockApi('old');
    const gate = createRefreshGate({ refresh: async () => 'x', initialTokens: initial });
    gates.push(gate);
    gate.attach(server.api);
    const error = await gate.setTokens({ accessToken: 'd'.repeat(MAX + 1) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRefreshGateError(error) && error.code).toBe('INVALID_TOKENS');
    await expect(server.api.get('/me')).resolves.toMatchObject({ status: 200 });
    expect(server.sent()).toEqual([['/me', 'Bearer old']]);
  });
});

/** Sets `Object.prototype[key]` for the length of `run`, and removes it whatever happens. */
async function withPollution<T>(
  fields: Record<string, unknown>,
  run: () => Promise<T>,
): Promise<T> {
  const proto = Object.prototype as Record<string, unknown>;
  const keys = Object.keys(fields);
  try {
    for (const key of keys) proto[key] = fields[key];
    return await run();
  } finally {
    for (const key of keys) delete proto[key];
  }
}

describe('a store that holds something that is not tokens', () => {
  /** A store of the app's own whose first contents are `value`; a write replaces them. */
  function garbageStore(value: unknown) {
    let contents: unknown = value;
    const store = {
      get: jest.fn(() => contents as Tokens | null),
      set: jest.fn((tokens: Tokens) => {
        contents = tokens;
      }),
      clear: jest.fn(() => {
        contents = null;
      }),
    } satisfies TokenStore;
    return { store, peek: () => contents };
  }

  /** A gate on that store; the API takes 'good', which the refresh yields. */
  function setup(value: unknown) {
    const server = mockApi('good');
    const { store } = garbageStore(value);
    const refresh = jest.fn(async () => ({ accessToken: 'good', refreshToken: 'r2' }));
    const logger = spyLogger();
    const gate = createRefreshGate({ refresh, store, logger });
    gates.push(gate);
    gate.attach(server.api);
    return { server, gate, refresh, store, logger };
  }

  const garbage: Array<[string, () => unknown]> = [
    ['42', () => 42],
    ["'str'", () => 'str'],
    ["'Bearer x\\r\\nX-Injected: 1'", () => 'Bearer x\r\nX-Injected: 1'],
    ['true', () => true],
    ['{}', () => ({})],
    ['[]', () => []],
    ["['tok']", () => ['tok']],
    ['{ accessToken: 5 }', () => ({ accessToken: 5 })],
    ['{ accessToken: null }', () => ({ accessToken: null })],
    ["{ accessToken: ['a', 'b'] }", () => ({ accessToken: ['a', 'b'] })],
    ["{ accessToken: { toString: () => 'x' } }", () => ({ accessToken: { toString: () => 'x' } })],
    ["{ accessToken: 'x\\r\\nX-Injected: 1' }", () => ({ accessToken: 'x\r\nX-Injected: 1' })],
    ['{ accessToken: 1 MB }', () => ({ accessToken: 'e'.repeat(1024 * 1024) })],
    ["{ accessToken: 'ünïcode' }", () => ({ accessToken: '\u00fcn\u00efcode' })],
    ["{ accessToken: 'ok', expiresAt: 'soon' }", () => ({ accessToken: 'ok', expiresAt: 'soon' })],
    ["{ accessToken: 'ok', refreshToken: 7 }", () => ({ accessToken: 'ok', refreshToken: 7 })],
    ['JSON with a "__proto__" key', () => JSON.parse('{"__proto__":{"accessToken":"x"}}')],
    ['an object whose prototype has accessToken', () => Object.create({ accessToken: 'x' })],
    ['a function', () => () => 'tok'],
    ['a Symbol', () => Symbol('tok')],
  ];

  it.each(garbage)(
    '%s: no crash, no injected header, and a refresh gets a good token',
    async (_, make) => {
      const value = make();
      const { server, gate, refresh } = setup(value);

      // What is not tokens is no tokens: the request goes without, its 401 refreshes (an empty
      // store does not prevent that), and the replay carries the good token.
      const request = track(server.api.get('/me'));
      const token = track(gate.getAccessToken());
      await flush(10);
      expect(request.status).not.toBe('pending');
      expect(token.status).not.toBe('pending');
      if (request.status === 'rejected') {
        // Never a crash of the gate's own (a TypeError from reading the garbage).
        expect(request.error).not.toBeInstanceOf(TypeError);
        expect(isAxiosError(request.error) || isRefreshGateError(request.error)).toBe(true);
      }
      expect(request.status).toBe('fulfilled');
      // Only no token, or the good one, ever went out.
      const others = server
        .sent()
        .filter(([, auth]) => auth !== undefined && auth !== 'Bearer good');
      expect(others.map(([url, auth]) => [url, brief(auth)])).toEqual([]);
      expect(server.sent().at(-1)).toEqual(['/me', 'Bearer good']);
      expectNothingInjected(server.mock);
      expect(refresh.mock.calls.length).toBeLessThanOrEqual(1);
      expect(gate.state.waiting).toBe(0);
    },
  );

  describe('with a polluted Object.prototype', () => {
    it('{} inheriting accessToken: the polluted value is never sent', async () => {
      // Set up first: axios-mock-adapter itself refuses to register a handler under pollution.
      const { server, gate } = setup({});
      await withPollution({ accessToken: 'polluted-token' }, async () => {
        const request = track(server.api.get('/me'));
        await flush(10);
        expect(request.status).toBe('fulfilled');
        for (const line of headerLines(server.mock)) expect(line).not.toContain('polluted-token');
        expect(server.sent().at(-1)).toEqual(['/me', 'Bearer good']);
        await expect(gate.getAccessToken()).resolves.toBe('good');
      });
      expect(Object.hasOwn(Object.prototype, 'accessToken')).toBe(false);
    });

    it('an empty default store: getAccessToken() does not answer the polluted value', async () => {
      const server = mockApi('good');
      const gate = createRefreshGate({ refresh: async () => 'good' });
      gates.push(gate);
      gate.attach(server.api);
      await withPollution({ accessToken: 'polluted-token' }, async () => {
        await expect(gate.getAccessToken()).resolves.not.toBe('polluted-token');
        await expect(server.api.get('/me')).resolves.toMatchObject({ status: 200 });
        for (const line of headerLines(server.mock)) expect(line).not.toContain('polluted-token');
      });
    });

    it.each([
      ['{}', () => ({})],
      ["{ refreshToken: 'r2' }", () => ({ refreshToken: 'r2' })],
      ['Object.create(null) with no fields', () => Object.create(null)],
    ])('a refresh resolving to %s: INVALID_TOKENS, not the polluted value', async (_, make) => {
      const server = mockApi('good');
      const { store, peek } = countingStore();
      const gate = createRefreshGate({
        refresh: async () => make() as Tokens,
        store,
        initialTokens: initial,
        logger: spyLogger(),
      });
      gates.push(gate);
      gate.attach(server.api);
      await withPollution({ accessToken: 'polluted-token' }, async () => {
        const error = await server.api.get('/me').catch((e: unknown) => e);
        expect(isRefreshGateError(error) && error.code).toBe('INVALID_TOKENS');
        expect(peek()).toEqual(initial);
        for (const line of headerLines(server.mock)) expect(line).not.toContain('polluted-token');
      });
    });

    it('a polluted expiresAt does not make a good token look expired (no refresh, no hold)', async () => {
      const server = mockApi('good');
      const refresh = jest.fn(async () => 'other');
      const gate = createRefreshGate({
        refresh,
        initialTokens: { accessToken: 'good', refreshToken: 'r1' },
        logger: spyLogger(),
      });
      gates.push(gate);
      gate.attach(server.api);
      await withPollution({ expiresAt: 1 }, async () => {
        const request = track(server.api.get('/me'));
        await flush(10);
        expect(request.status).toBe('fulfilled');
        expect(server.sent()).toEqual([['/me', 'Bearer good']]);
        expect(refresh).not.toHaveBeenCalled();
      });
    });
  });
});

describe('the logger never gets a secret', () => {
  const ACCESS_1 = 'acc1-SECRET-1111';
  const ACCESS_2 = 'acc2-SECRET-2222';
  const ACCESS_REFUSED = 'acc3-SECRET-3333';
  const REFRESH_1 = 'ref1-SECRET-aaaa';
  const REFRESH_2 = 'ref2-SECRET-bbbb';
  const REFRESH_3 = 'ref3-SECRET-cccc';
  const QUERY_SECRET = 'qs-SECRET-zzzz';
  const SECRETS = [
    ACCESS_1,
    ACCESS_2,
    ACCESS_REFUSED,
    REFRESH_1,
    REFRESH_2,
    REFRESH_3,
    QUERY_SECRET,
  ];

  /** Everything a logger call could show: every string reachable from its arguments. */
  function reachable(value: unknown, out: string[] = [], seen = new WeakSet<object>(), depth = 0) {
    if (typeof value === 'string') out.push(value);
    else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
      out.push(String(value));
    else if (typeof value === 'symbol') out.push(value.toString());
    else if ((typeof value === 'object' || typeof value === 'function') && value !== null) {
      if (seen.has(value) || depth > 20) return out;
      seen.add(value);
      if (value instanceof Error) {
        out.push(value.name, value.message, String(value.stack));
        reachable(value.cause, out, seen, depth + 1);
      }
      if (ArrayBuffer.isView(value)) {
        out.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1'));
      }
      if (value instanceof Map || value instanceof Set) {
        for (const entry of value.entries()) reachable(entry, out, seen, depth + 1);
      }
      if (typeof value === 'function') out.push(value.toString().slice(0, 200));
      for (const key of Reflect.ownKeys(value)) {
        out.push(String(key));
        const descriptor = Object.getOwnPropertyDescriptor(value, key);
        let child: unknown;
        try {
          child = descriptor && 'value' in descriptor ? descriptor.value : (value as never)[key];
        } catch {
          continue;
        }
        reachable(child, out, seen, depth + 1);
      }
    }
    return out;
  }

  /** Every logger call's arguments, as the strings they hold and as util.inspect shows them. */
  function shown(logger: ReturnType<typeof spyLogger>): string[] {
    const calls = [...logger.debug.mock.calls, ...logger.warn.mock.calls] as unknown[][];
    return calls.flatMap((args) => [
      ...reachable(args),
      inspect(args, { depth: 12, showHidden: true, getters: true }),
    ]);
  }

  it('through a storm: stale replay, loop guard, a throwing shouldRefresh, a failing refresh, a foreign URL', async () => {
    // The API: accepts one token at a time; "/explode" answers 500 with the request's headers.
    let accepted = ACCESS_2;
    const api = axios.create({ baseURL: BASE });
    const apiMock = new MockAdapter(api);
    const slow = deferred<void>();
    apiMock.onAny().reply(async (config) => {
      const auth = axios.AxiosHeaders.from(config.headers as never).get('Authorization');
      if (config.url?.startsWith('/slow')) await slow.promise;
      if (config.url?.startsWith('/explode')) return [500, { echo: auth, url: config.url }];
      return auth === `Bearer ${accepted}` ? [200, { ok: true }] : [401, { refused: auth }];
    });

    // The refresh endpoint: a rotation, one that yields a token the API refuses, then a refusal
    // that echoes the refresh token it got (the AxiosError's config carries it, in data and header).
    const authApi = axios.create();
    const authMock = new MockAdapter(authApi);
    authMock
      .onPost('https://auth.test/token')
      .replyOnce(200, { accessToken: ACCESS_2, refreshToken: REFRESH_2 })
      .onPost('https://auth.test/token')
      .replyOnce(200, { accessToken: ACCESS_REFUSED, refreshToken: REFRESH_3 })
      .onPost('https://auth.test/token')
      .reply((config) => [400, { error: 'invalid_grant', got: config.data }]);

    const logger = spyLogger();
    const onRefreshFailed = jest.fn((error: unknown) => {
      throw error;
    });
    const gate = createRefreshGate({
      initialTokens: { accessToken: ACCESS_1, refreshToken: REFRESH_1 },
      refresh: async ({ tokens, signal }) => {
        const { data } = await authApi.post<Tokens>(
          'https://auth.test/token',
          { grant_type: 'refresh_token', refresh_token: tokens?.refreshToken },
          { signal, headers: { 'X-Refresh-Token': tokens?.refreshToken ?? '' } },
        );
        return data;
      },
      shouldRefresh: (error) => {
        if (error.config?.url?.startsWith('/explode')) throw error;
        return error.response?.status === 401;
      },
      onRefreshFailed,
      logger,
    });
    gates.push(gate);
    gate.attach(api);
    gate.on('refresh:failure', (payload) => {
      throw (payload as { error?: unknown })?.error ?? payload;
    });
    gate.on('request:queued', () => {
      throw new Error('a listener of our own failing');
    });
    // A second instance, with no baseURL, for absolute URLs elsewhere.
    const other = axios.create();
    const otherMock = new MockAdapter(other);
    otherMock.onAny().reply(200, { ok: true });
    gate.attach(other);

    const q = `?api_key=${QUERY_SECRET}&token=${QUERY_SECRET}`;
    const all: Array<Tracked<unknown>> = [];
    const send = (url: string, config?: AxiosRequestConfig) => {
      const tracked = track(api.get(url, config));
      all.push(tracked);
      return tracked;
    };

    // 1. A slow request leaves with ACCESS_1; a burst of 401s refreshes to ACCESS_2; the slow
    //    one's 401 then comes back stale and is replayed.
    const stale = send(`/slow${q}`);
    await flush();
    const burst = Array.from({ length: 5 }, (_, i) => send(`/items/${i}${q}`));
    await Promise.all(burst.map((t) => t.promise));
    expect(burst.every((t) => t.status === 'fulfilled')).toBe(true);
    slow.resolve();
    await stale.promise;
    expect(stale.status).toBe('fulfilled');
    expect(authMock.history.post).toHaveLength(1);

    // 2. The API moves on; the next refresh yields a token it refuses: the replay fails, and a
    //    new request's 401 for that fresh token is refused by the loop guard.
    accepted = 'nothing-is-accepted';
    const refused = send(`/refused${q}`);
    await refused.promise;
    expect(authMock.history.post).toHaveLength(2);
    const looped = send(`/loop${q}`);
    await looped.promise;
    expect(isAxiosError(looped.error) && looped.error.response?.status).toBe(401);
    expect(authMock.history.post).toHaveLength(2);

    // 3. shouldRefresh throws the AxiosError of a request that carries the token.
    const exploded = send(`/explode${q}`);
    await exploded.promise;
    expect(isAxiosError(exploded.error) && exploded.error.response?.status).toBe(500);

    // 4. A manual refresh fails with an AxiosError carrying the refresh token; requests held
    //    meanwhile fail with it; onRefreshFailed and a listener rethrow it.
    const manual = track(gate.refresh());
    const held = Array.from({ length: 3 }, (_, i) => send(`/held/${i}${q}`));
    await manual.promise;
    await Promise.all(held.map((t) => t.promise));
    expect(manual.status).toBe('rejected');
    expect(isAxiosError(manual.error) && manual.error.response?.status).toBe(400);
    expect(held.every((t) => t.error === manual.error)).toBe(true);
    expect(onRefreshFailed).toHaveBeenCalledTimes(1);
    // The failure does carry the refresh token: what the logger got must not.
    expect(
      JSON.stringify((manual.error as { config?: { data?: unknown } }).config?.data),
    ).toContain(REFRESH_3);

    // 5. During the cooldown a 401 is refused at once.
    const cooling = send(`/cooling${q}`);
    await cooling.promise;
    expect(isRefreshGateError(cooling.error) && cooling.error.code).toBe('COOLDOWN');

    // 6. An absolute URL elsewhere with a secret in its query string, through the instance with
    //    no baseURL: no token, and one warning that names the origin only.
    const foreign = track(other.get(`https://other.test/some/path${q}`));
    all.push(foreign);
    await foreign.promise;
    expect(foreign.status).toBe('fulfilled');
    expect(otherMock.history.get?.[0]?.headers?.Authorization).toBeUndefined();

    await flush();
    expect(all.every((t) => t.status !== 'pending' && t.settlements === 1)).toBe(true);
    expect(gate.state.waiting).toBe(0);

    // What the logger was told: a fair amount, and not one secret.
    expect(logger.debug).toHaveBeenCalled();
    expect(logger.warn).toHaveBeenCalled();
    const text = shown(logger);
    // How many of the strings the logger got hold each secret: none, for every one of them.
    const count = (secret: string) => text.filter((s) => s.includes(secret)).length;
    expect(Object.fromEntries(SECRETS.map((secret) => [secret, count(secret)]))).toEqual(
      Object.fromEntries(SECRETS.map((secret) => [secret, 0])),
    );
    expect(text.join('\n')).not.toMatch(/Bearer \S/);
    // Every log line that names a place names an origin, not a path or a query.
    const lines = text.filter((s) => s.includes('api.test') || s.includes('other.test'));
    for (const line of lines) {
      expect(line).not.toMatch(/\?|api_key|\/items|\/slow|\/some\/path/);
    }
    const warnings = logger.warn.mock.calls.map((args) => String(args[0]));
    const unscoped = warnings.filter((w) => w.includes('no token attached'));
    expect(unscoped).toHaveLength(1);
    expect(unscoped[0]).toContain('https://other.test');
    expect(warnings.some((w) => w.includes('onRefreshFailed threw'))).toBe(true);
    expect(warnings.some((w) => w.includes('shouldRefresh threw'))).toBe(true);
    expect(warnings.some((w) => w.includes("'refresh:failure' listener threw"))).toBe(true);
    const debugs = logger.debug.mock.calls.map((args) => args.map(String).join(' '));
    expect(debugs.some((d) => d.includes('stale 401'))).toBe(true);
    expect(debugs.some((d) => d.includes('loop guard'))).toBe(true);
  });

  describe('when an error wraps one (cause, AggregateError, a message of its own)', () => {
    const ACCESS = 'acc-WRAPPED-1111';
    const REFRESH = 'ref-WRAPPED-2222';
    const AUTH_URL = 'https://auth.test/token';

    /**
     * Everything the logger's calls could show: util.inspect at any depth with hidden properties,
     * and every string reachable from the arguments (an error's message, stack, cause, errors).
     */
    const serialized = (calls: unknown[][]): string[] =>
      calls.flatMap((args) => [
        ...reachable(args),
        inspect(args, { depth: Number.POSITIVE_INFINITY, showHidden: true, getters: true }),
      ]);

    /** An API that refuses every token, and a refresh endpoint that refuses the refresh token. */
    function endpoints() {
      const api = axios.create({ baseURL: BASE });
      new MockAdapter(api)
        .onAny()
        .reply((config) => [
          401,
          { refused: axios.AxiosHeaders.from(config.headers as never).get('Authorization') },
        ]);
      const authApi = axios.create();
      new MockAdapter(authApi)
        .onPost(AUTH_URL)
        .reply((config) => [400, { error: 'invalid_grant', got: config.data }]);
      return { api, authApi };
    }

    /** The refresh call through axios: the refresh token in its body, the access token in its header. */
    const refreshThrough =
      (authApi: AxiosInstance) =>
      async ({ tokens, signal }: RefreshContext) => {
        const { data } = await authApi.post<Tokens>(
          AUTH_URL,
          { grant_type: 'refresh_token', refresh_token: tokens?.refreshToken },
          { signal, headers: { Authorization: `Bearer ${tokens?.accessToken}` } },
        );
        return data;
      };

    /**
     * A gate on a fresh API whose every request gets a 401, refreshing through an auth API that
     * answers invalid_grant; `options` adds the hook under test. Returns the API, attached.
     */
    function gateOn(
      logger: ReturnType<typeof spyLogger> | undefined,
      options: Partial<RefreshGateOptions> = {},
    ) {
      const { api, authApi } = endpoints();
      const gate = createRefreshGate({
        initialTokens: { accessToken: ACCESS, refreshToken: REFRESH },
        refresh: refreshThrough(authApi),
        ...options,
        ...(logger ? { logger } : {}),
      });
      gates.push(gate);
      gate.attach(api);
      return { api, gate };
    }

    /** The error as thrown: it does carry both tokens (else the test would prove nothing). */
    function expectCarriesTheTokens(error: unknown) {
      expect(isAxiosError(error)).toBe(true);
      const shown = inspect(error, { depth: Number.POSITIVE_INFINITY });
      expect(shown).toContain(ACCESS);
      if (isAxiosError(error) && error.config?.url === AUTH_URL) expect(shown).toContain(REFRESH);
    }

    interface Scenario {
      /** The warning the scenario makes the gate log. */
      warning: string;
      run(logger: ReturnType<typeof spyLogger> | undefined): Promise<void>;
    }

    const scenarios: Array<[string, Scenario]> = [
      [
        "onRefreshFailed throws an Error whose cause is the refresh call's AxiosError",
        {
          warning: 'onRefreshFailed threw',
          async run(logger) {
            const failures: unknown[] = [];
            const { api } = gateOn(logger, {
              onRefreshFailed: (error) => {
                failures.push(error);
                throw new Error('logout failed', { cause: error });
              },
            });
            await api.get('/me').catch(() => undefined);
            await flush();
            expect(failures).toHaveLength(1);
            expectCarriesTheTokens(failures[0]);
          },
        },
      ],
      [
        "shouldRefresh throws an AggregateError of the request's AxiosError",
        {
          warning: 'shouldRefresh threw',
          async run(logger) {
            const seen: unknown[] = [];
            const { api } = gateOn(logger, {
              shouldRefresh: (error) => {
                seen.push(error);
                throw new AggregateError([error]);
              },
            });
            await api.get('/me').catch(() => undefined);
            await flush();
            expect(seen).toHaveLength(1);
            expectCarriesTheTokens(seen[0]);
          },
        },
      ],
      [
        "a 'refresh:failure' listener throws an Error whose cause is the refresh call's AxiosError",
        {
          warning: "'refresh:failure' listener threw",
          async run(logger) {
            const failures: unknown[] = [];
            const { api, gate } = gateOn(logger);
            gate.on('refresh:failure', ({ error }) => {
              failures.push(error);
              throw new Error('the listener failed', { cause: error });
            });
            await api.get('/me').catch(() => undefined);
            await flush();
            expect(failures).toHaveLength(1);
            expectCarriesTheTokens(failures[0]);
          },
        },
      ],
      [
        'a store whose set() (of the initialTokens) rejects with an Error that names the tokens',
        {
          warning: 'storing initialTokens failed',
          async run(logger) {
            const writes: string[] = [];
            const gate = createRefreshGate({
              initialTokens: { accessToken: ACCESS, refreshToken: REFRESH },
              refresh: async () => 'unused',
              store: {
                get: () => null,
                set: async (tokens) => {
                  writes.push(JSON.stringify(tokens));
                  throw new Error(`cannot write ${JSON.stringify(tokens)}`);
                },
                clear: () => undefined,
              },
              ...(logger ? { logger } : {}),
            });
            gates.push(gate);
            await flush(10);
            expect(writes).toHaveLength(1);
            expect(writes[0]).toContain(ACCESS);
            expect(writes[0]).toContain(REFRESH);
          },
        },
      ],
    ];

    /** How many of the strings shown hold each token: none, for both. */
    function expectNoToken(text: string[]) {
      const count = (secret: string) => text.filter((s) => s.includes(secret)).length;
      expect({ [ACCESS]: count(ACCESS), [REFRESH]: count(REFRESH) }).toEqual({
        [ACCESS]: 0,
        [REFRESH]: 0,
      });
    }

    it.each(scenarios)('%s: the logger gets no token', async (_, { warning, run }) => {
      const logger = spyLogger();
      await run(logger);
      const warnings = logger.warn.mock.calls.map((args) => String(args[0]));
      expect(warnings.filter((w) => w.includes(warning))).toHaveLength(1);
      expectNoToken(serialized([...logger.debug.mock.calls, ...logger.warn.mock.calls]));
    });

    it.each(scenarios)(
      '%s: the default logger (console.warn) gets no token',
      async (_, { warning, run }) => {
        const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
        const debug = jest.spyOn(console, 'debug').mockImplementation(() => undefined);
        try {
          await run(undefined);
          const calls = [...warn.mock.calls, ...debug.mock.calls] as unknown[][];
          expect(
            calls.filter((args) => args.some((a) => String(a).includes(warning))),
          ).toHaveLength(1);
          expectNoToken(serialized(calls));
        } finally {
          warn.mockRestore();
          debug.mockRestore();
        }
      },
    );
  });
});

describe('a store whose contents change after the gate checked them', () => {
  const BAD_VALUES = ['evil token with spaces', 'x'.repeat(20_000)];

  /** Collects the unhandled rejections of `run`, and stops listening whatever happens. */
  async function unhandledDuring(run: () => Promise<void>): Promise<unknown[]> {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await run();
      await flush(10);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    return unhandled;
  }

  /** How a request ended: fulfilled, or refused the way axios or the gate refuse (not a crash). */
  function expectSettledCleanly(request: Tracked<unknown>) {
    expect(request.status).not.toBe('pending');
    if (request.status === 'rejected') {
      expect(request.error).not.toBeInstanceOf(TypeError);
      expect(isAxiosError(request.error) || isRefreshGateError(request.error)).toBe(true);
    }
  }

  it('the same object each time, its accessToken changed in place to a bad value: never sent', async () => {
    // A store of the app's own that hands out its one object and writes into it in place.
    const contents: Record<string, unknown> = { accessToken: 'good-token-0', refreshToken: 'r0' };
    const server = mockApi('good-token-0');
    let refreshes = 0;
    const refresh = jest.fn(async () => {
      refreshes++;
      server.current = `fresh-token-${refreshes}`;
      return { accessToken: server.current, refreshToken: `r${refreshes}` };
    });
    const store = {
      get: jest.fn(() => contents as unknown as Tokens),
      set: jest.fn((tokens: Tokens) => {
        Object.assign(contents, tokens);
      }),
      clear: jest.fn(() => {
        contents.accessToken = undefined;
      }),
    } satisfies TokenStore;
    const gate = createRefreshGate({ refresh, store, logger: spyLogger() });
    gates.push(gate);
    gate.attach(server.api);

    const requests: Tracked<unknown>[] = [];
    const unhandled = await unhandledDuring(async () => {
      const first = track(server.api.get('/first'));
      await first.promise;
      expect(first.status).toBe('fulfilled');
      expect(server.sent()).toEqual([['/first', 'Bearer good-token-0']]);

      for (const [i, bad] of BAD_VALUES.entries()) {
        contents.accessToken = bad;
        const request = track(server.api.get(`/after-change-${i}`));
        requests.push(request, track(gate.getAccessToken()));
        await request.promise;
      }
    });

    for (const request of requests) expectSettledCleanly(request);
    expect(unhandled).toEqual([]);
    // Every request went with the good token, a fresh one, or none: never with what the object
    // was changed to.
    const others = server
      .sent()
      .filter(([, auth]) => auth !== undefined && !/^Bearer (good|fresh)-token-\d+$/.test(auth));
    expect(others.map(([url, auth]) => [url, brief(auth)])).toEqual([]);
    // Nor does getAccessToken() (for fetch or a WebSocket) answer what the object was changed to.
    const answered = requests
      .map((request) => request.value)
      .filter((value): value is string => (BAD_VALUES as unknown[]).includes(value));
    expect(answered.map(brief)).toEqual([]);
    for (const bad of BAD_VALUES) expectNothingInjected(server.mock, bad);
    for (const line of headerLines(server.mock)) expect(line).not.toContain('evil token');
    // What this gate does: the changed value is no token, so the request goes without one, and its
    // 401 refreshes (the store's object gets the fresh tokens written into it).
    expect(server.sent()).toEqual([
      ['/first', 'Bearer good-token-0'],
      ['/after-change-0', undefined],
      ['/after-change-0', 'Bearer fresh-token-1'],
      ['/after-change-1', undefined],
      ['/after-change-1', 'Bearer fresh-token-2'],
    ]);
    expect(requests.map((request) => request.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(gate.state.waiting).toBe(0);
  });

  it('a Proxy that answers a good accessToken on the first read and a CR LF after: never sent', async () => {
    const BAD = 'bad\r\nX-Inj: 1';
    let reads = 0;
    const flipping = new Proxy({ accessToken: 'good-token-0', refreshToken: 'r0' } as Tokens, {
      get: (target, key, receiver) =>
        key === 'accessToken'
          ? reads++ === 0
            ? 'good-token-0'
            : BAD
          : Reflect.get(target, key, receiver),
    });
    const server = mockApi('fresh-token');
    const refresh = jest.fn(async () => ({ accessToken: 'fresh-token', refreshToken: 'r1' }));
    // Its writes go nowhere: the store keeps showing the Proxy, and so the value it flips to.
    const store = {
      get: jest.fn(() => flipping),
      set: jest.fn(),
      clear: jest.fn(),
    } satisfies TokenStore;
    const gate = createRefreshGate({ refresh, store, logger: spyLogger() });
    gates.push(gate);
    gate.attach(server.api);

    const requests: Tracked<unknown>[] = [];
    const unhandled = await unhandledDuring(async () => {
      for (const path of ['/one', '/two']) {
        const request = track(server.api.get(path));
        requests.push(request);
        await request.promise;
      }
    });

    expect(reads).toBeGreaterThan(1);
    for (const request of requests) expectSettledCleanly(request);
    expect(unhandled).toEqual([]);
    const others = server
      .sent()
      .filter(([, auth]) => auth !== undefined && auth !== 'Bearer fresh-token');
    expect(others).toEqual([]);
    // axios 1.21 drops the CR LF of a header value it sets ("Bearer badX-Inj: 1"): what must not
    // be there is the value, in any form.
    expectNothingInjected(server.mock, BAD);
    for (const line of headerLines(server.mock)) {
      expect(line.toLowerCase()).not.toContain('x-inj');
      expect(line).not.toContain('bad');
    }
    // What this gate does: what the store shows is no token, so every attempt goes without one,
    // and the caller gets the API's 401.
    expect(server.sent()).toEqual([
      ['/one', undefined],
      ['/one', undefined],
      ['/two', undefined],
      ['/two', undefined],
    ]);
    expect(
      requests.map((request) => isAxiosError(request.error) && request.error.response?.status),
    ).toEqual([401, 401]);
    expect(gate.state.waiting).toBe(0);
  });
});
