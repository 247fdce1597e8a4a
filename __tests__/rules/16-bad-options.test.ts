/**
 * Rule 16, bad options: every option with a bad value throws INVALID_OPTIONS at creation, with a
 * message naming the option.
 */
import {
  attachRefreshGate,
  createRefreshGate,
  inProcessCoordinator,
  isRefreshGateError,
  memoryStore,
  RefreshGateError,
  type RefreshGateOptions,
  type Tokens,
} from '../../src/index.js';
import { mockApi } from '../helpers/gate-fixtures.js';

const refresh = async () => 'token';
const noop = () => {};

/** `[option named in the message, the options given]`. */
const cases: Array<[string, string, unknown]> = [
  // the options object itself
  ['options', 'undefined', undefined],
  ['options', 'a string', 'refresh'],
  ['options', 'null', null],
  // unknown option names (typos included)
  ['refreshh', 'an unknown option', { refresh, refreshh: refresh }],
  ['statuscodes', 'a misspelled option', { refresh, statuscodes: [401] }],
  ['skipAuthRefresh', 'a per-request setting', { refresh, skipAuthRefresh: true }],
  // refresh
  ['refresh', 'missing', {}],
  ['refresh', 'a string', { refresh: '/auth/refresh' }],
  ['refresh', 'an object', { refresh: {} }],
  ['refresh', 'null', { refresh: null }],
  // store
  ['store', 'a string', { refresh, store: 'localStorage' }],
  ['store', 'an empty object', { refresh, store: {} }],
  ['store', 'one without clear', { refresh, store: { get: noop, set: noop } }],
  ['store', 'one without get', { refresh, store: { set: noop, clear: noop } }],
  ['store', 'a non-function subscribe', { refresh, store: { ...memoryStore(), subscribe: 1 } }],
  // initialTokens
  ['initialTokens', 'null', { refresh, initialTokens: null }],
  ['initialTokens', 'a bare string', { refresh, initialTokens: 'token' }],
  ['initialTokens', 'no accessToken', { refresh, initialTokens: {} }],
  ['initialTokens', "accessToken ''", { refresh, initialTokens: { accessToken: '' } }],
  ['initialTokens', 'accessToken 5', { refresh, initialTokens: { accessToken: 5 } }],
  ['initialTokens', 'accessToken with a space', { refresh, initialTokens: { accessToken: 'a b' } }],
  [
    'initialTokens',
    'accessToken with CRLF',
    { refresh, initialTokens: { accessToken: 'a\r\nX-Evil: 1' } },
  ],
  [
    'initialTokens',
    "refreshToken ''",
    { refresh, initialTokens: { accessToken: 'a', refreshToken: '' } },
  ],
  [
    'initialTokens',
    'expiresAt NaN',
    { refresh, initialTokens: { accessToken: 'a', expiresAt: Number.NaN } },
  ],
  [
    'initialTokens',
    "expiresAt '1'",
    { refresh, initialTokens: { accessToken: 'a', expiresAt: '1' } },
  ],
  // statusCodes
  ['statusCodes', 'a number', { refresh, statusCodes: 401 }],
  ['statusCodes', 'an empty array', { refresh, statusCodes: [] }],
  ['statusCodes', 'a string entry', { refresh, statusCodes: ['401'] }],
  ['statusCodes', '401.5', { refresh, statusCodes: [401.5] }],
  ['statusCodes', '99', { refresh, statusCodes: [99] }],
  ['statusCodes', '600', { refresh, statusCodes: [600] }],
  ['statusCodes', 'NaN', { refresh, statusCodes: [Number.NaN] }],
  // the function options
  ['shouldRefresh', 'a boolean', { refresh, shouldRefresh: true }],
  ['applyToken', 'a string', { refresh, applyToken: 'query' }],
  ['getExpiry', 'a number', { refresh, getExpiry: 60_000 }],
  ['onRefreshFailed', 'an object', { refresh, onRefreshFailed: {} }],
  // header and scheme
  ['header', "''", { refresh, header: '' }],
  ['header', 'with a space', { refresh, header: 'X Auth' }],
  ['header', 'with a colon', { refresh, header: 'X-Auth:' }],
  ['header', 'with CRLF', { refresh, header: 'X-Auth\r\nX-Evil' }],
  ['header', 'a number', { refresh, header: 5 }],
  ['scheme', 'with a space', { refresh, scheme: 'Bear er' }],
  ['scheme', 'with CRLF', { refresh, scheme: 'Bearer\r\n' }],
  ['scheme', 'a number', { refresh, scheme: 1 }],
  // allowedOrigins
  ['allowedOrigins', 'a string', { refresh, allowedOrigins: 'https://api.test' }],
  ['allowedOrigins', 'a RegExp', { refresh, allowedOrigins: /api/ }],
  ['allowedOrigins', 'null', { refresh, allowedOrigins: null }],
  ['allowedOrigins', 'a host without scheme', { refresh, allowedOrigins: ['api.test'] }],
  ['allowedOrigins', "'*'", { refresh, allowedOrigins: ['*'] }],
  ['allowedOrigins', 'an entry with a path', { refresh, allowedOrigins: ['https://api.test/v1'] }],
  [
    'allowedOrigins',
    'an entry with a query',
    { refresh, allowedOrigins: ['https://api.test?x=1'] },
  ],
  ['allowedOrigins', 'an entry with a hash', { refresh, allowedOrigins: ['https://api.test#x'] }],
  ['allowedOrigins', 'an opaque origin', { refresh, allowedOrigins: ['file:///etc/passwd'] }],
  ['allowedOrigins', 'a number entry', { refresh, allowedOrigins: [443] }],
  ['allowedOrigins', 'a null entry', { refresh, allowedOrigins: ['https://api.test', null] }],
  // maxReplays
  ['maxReplays', '1.5', { refresh, maxReplays: 1.5 }],
  ['maxReplays', '-1', { refresh, maxReplays: -1 }],
  ['maxReplays', 'NaN', { refresh, maxReplays: Number.NaN }],
  ['maxReplays', 'Infinity', { refresh, maxReplays: Number.POSITIVE_INFINITY }],
  ['maxReplays', "'1'", { refresh, maxReplays: '1' }],
  // coordinator and logger
  ['coordinator', 'an empty object', { refresh, coordinator: {} }],
  ['coordinator', 'a string', { refresh, coordinator: 'redis' }],
  ['coordinator', 'a non-function runExclusive', { refresh, coordinator: { runExclusive: 1 } }],
  ['logger', 'an empty object', { refresh, logger: {} }],
  ['logger', 'one without debug', { refresh, logger: { warn: noop } }],
  ['logger', 'a function', { refresh, logger: noop }],
];

// Every duration gets the same table.
for (const name of ['refreshTimeoutMs', 'queueTimeoutMs', 'cooldownMs', 'refreshBeforeExpiryMs']) {
  for (const [label, value] of [
    ['-1', -1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ["'1000'", '1000'],
    ['null', null],
  ] as const) {
    cases.push([name, label, { refresh, [name]: value }]);
  }
}

describe('createRefreshGate', () => {
  it.each(cases)('rejects `%s` given %s', (name, _, options) => {
    let thrown: unknown;
    try {
      createRefreshGate(options as RefreshGateOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RefreshGateError);
    expect(isRefreshGateError(thrown) && thrown.code).toBe('INVALID_OPTIONS');
    expect((thrown as Error).message).toContain(name);
  });
});

describe('attachRefreshGate', () => {
  it('validates before it attaches anything', () => {
    const { api } = mockApi();
    expect(() => attachRefreshGate(api, { refresh, cooldownMs: -1 } as RefreshGateOptions)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS' }),
    );
    const handlers = (api.interceptors.request as unknown as { handlers: unknown[] }).handlers;
    expect(handlers.filter((handler) => handler != null)).toHaveLength(0);
  });
});

describe('good options', () => {
  it('are all accepted together, including the edge values', () => {
    const options: Required<RefreshGateOptions> = {
      refresh,
      store: memoryStore(),
      initialTokens: { accessToken: 'a', refreshToken: 'r', expiresAt: Date.now() + 60_000 },
      statusCodes: [401, 419],
      shouldRefresh: () => false,
      header: 'X-Auth-Token',
      scheme: '',
      applyToken: noop,
      allowedOrigins: ['https://api.test', 'http://localhost:3000/', /^https:\/\/.*\.test$/],
      refreshTimeoutMs: 0,
      queueTimeoutMs: 0,
      cooldownMs: 0,
      refreshBeforeExpiryMs: 0,
      getExpiry: () => undefined,
      maxReplays: 0,
      coordinator: inProcessCoordinator(),
      onRefreshFailed: noop,
      refreshRetry: { retries: 10, baseDelayMs: 0, maxDelayMs: 0 },
      isTerminal: () => true,
      clockSkew: false,
      logger: console,
    };
    const gate = createRefreshGate(options);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 0, failures: 0 });
    gate.destroy();
  });

  it('treats options left undefined as not given', async () => {
    // What an app setting options from a config with unset fields passes: the types take it
    // (`| undefined` on every optional field, for exactOptionalPropertyTypes) and so does the gate.
    const unset = undefined;
    // Every option listed (`-?`): a new one must be added here.
    const options: { readonly [K in keyof RefreshGateOptions]-?: RefreshGateOptions[K] } = {
      refresh,
      store: unset,
      initialTokens: unset,
      statusCodes: unset,
      shouldRefresh: unset,
      header: unset,
      scheme: unset,
      applyToken: unset,
      allowedOrigins: unset,
      refreshTimeoutMs: unset,
      queueTimeoutMs: unset,
      cooldownMs: unset,
      refreshBeforeExpiryMs: unset,
      getExpiry: unset,
      maxReplays: unset,
      coordinator: unset,
      onRefreshFailed: unset,
      refreshRetry: { retries: unset, baseDelayMs: unset, maxDelayMs: unset },
      isTerminal: unset,
      clockSkew: unset,
      logger: unset,
    };
    const { api, sent } = mockApi('token');
    const gate = attachRefreshGate(api, options);
    expect(gate.state.status).toBe('idle');
    // The defaults hold: no token yet, so the 401 refreshes, and the retry goes out with
    // `Authorization: Bearer <token>`.
    await expect(api.get('/me')).resolves.toMatchObject({ status: 200 });
    expect(sent()).toEqual([
      ['/me', undefined],
      ['/me', 'Bearer token'],
    ]);
    expect(gate.state).toMatchObject({ status: 'idle', refreshes: 1, failures: 0 });
    gate.destroy();
  });

  it('takes tokens whose optional fields are undefined, as if they were left out', async () => {
    const response: { access_token: string; refresh_token?: string; expires_in?: number } = {
      access_token: 'good',
    };
    const fromResponse = (): Tokens => ({
      accessToken: response.access_token,
      refreshToken: response.refresh_token,
      expiresAt: response.expires_in === undefined ? undefined : Date.now() + response.expires_in,
    });
    const seen: Array<Tokens | null> = [];
    const { api } = mockApi('good');
    const gate = attachRefreshGate(api, {
      refresh: async ({ tokens }) => {
        seen.push(tokens);
        return fromResponse();
      },
      initialTokens: { accessToken: 'stale', refreshToken: undefined, expiresAt: undefined },
    });
    // No expiresAt: expiry falls back to the token's (absent) JWT exp, so the request is sent.
    await expect(api.get('/me')).resolves.toMatchObject({ status: 200 });
    expect(seen).toEqual([{ accessToken: 'stale' }]);
    expect(gate.tokens?.accessToken).toBe('good');
    expect(gate.tokens?.refreshToken).toBeUndefined();
    await gate.setTokens({ accessToken: 'good', refreshToken: undefined, expiresAt: undefined });
    // A string from refresh keeps the refresh token, and there is none to keep.
    await expect(gate.refresh()).resolves.toMatchObject({ accessToken: 'good' });
    gate.destroy();
  });
});
