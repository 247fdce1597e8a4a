// Compile-only checks of the public types (`npm run typecheck`); this file never runs. Each
// `@ts-expect-error` marks something the types must refuse.
import axios, {
  type AxiosError,
  type AxiosInstance,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import {
  attachRefreshGate,
  type Coordinator,
  createRefreshGate,
  type GateEvent,
  type GateEventMap,
  type GateLogger,
  inProcessCoordinator,
  isRefreshGateError,
  memoryStore,
  type RefreshContext,
  type RefreshGate,
  RefreshGateError,
  RefreshGateErrorCode,
  type RefreshGateOptions,
  type RefreshGateState,
  readJwtExpiry,
  type TokenStore,
  type Tokens,
} from '../../src/index.js';

/** Exact type equality (not mere assignability), as in type-challenges. */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when `T` is `true`: `expectTrue<Equal<A, B>>()`. */
declare function expectTrue<T extends true>(): T;
/** Compiles only when `value` is assignable to `T`. */
declare function expectType<T>(value: T): T;

declare const api: AxiosInstance;
declare const gate: RefreshGate;
declare const caught: unknown;
declare const signal: AbortSignal;
const refresh = async (_ctx: RefreshContext): Promise<Tokens> => ({ accessToken: 'a' });

// ---- RefreshGateOptions: what it accepts -------------------------------------------------------

const everyOption: RefreshGateOptions = {
  refresh: async ({ tokens, signal, reason, error }) => {
    expectTrue<Equal<typeof tokens, Tokens | null>>();
    expectTrue<Equal<typeof signal, AbortSignal>>();
    expectTrue<Equal<typeof reason, 'unauthorized' | 'expiring' | 'manual'>>();
    expectTrue<Equal<typeof error, AxiosError | undefined>>();
    return { accessToken: 'a', refreshToken: tokens?.refreshToken ?? 'r', expiresAt: 1 };
  },
  store: memoryStore({ accessToken: 'a' }),
  initialTokens: { accessToken: 'a', refreshToken: 'r', expiresAt: Date.now() + 60_000 },
  statusCodes: [401, 419] as const,
  shouldRefresh: (error) => {
    expectTrue<Equal<typeof error, AxiosError>>();
    return error.response?.status === 401;
  },
  header: 'X-Access-Token',
  scheme: '',
  applyToken: (config, accessToken) => {
    expectTrue<Equal<typeof config, InternalAxiosRequestConfig>>();
    config.params = { ...config.params, access_token: accessToken };
  },
  allowedOrigins: ['https://api.example.com', /^https:\/\/[a-z]+\.example\.com$/] as const,
  refreshTimeoutMs: 10_000,
  queueTimeoutMs: 0,
  cooldownMs: 5_000,
  refreshBeforeExpiryMs: 30_000,
  getExpiry: (tokens) => tokens.expiresAt ?? readJwtExpiry(tokens.accessToken),
  maxReplays: 2,
  coordinator: inProcessCoordinator(),
  onRefreshFailed: (error, { terminal }) => {
    expectTrue<Equal<typeof error, unknown>>();
    expectTrue<Equal<typeof terminal, boolean>>();
  },
  refreshRetry: { retries: 3, baseDelayMs: 200, maxDelayMs: 2_000 },
  isTerminal: (error) => error instanceof Error,
  logger: console,
};
expectType<RefreshGate>(createRefreshGate(everyOption));
expectType<RefreshGate>(attachRefreshGate(api, everyOption));
// `refresh` alone is enough, and may resolve to a bare access token.
expectType<RefreshGate>(createRefreshGate({ refresh: async () => 'new-access-token' }));
expectType<RefreshGate>(createRefreshGate({ refresh }));
expectTrue<Equal<ReturnType<RefreshGateOptions['refresh']>, Promise<Tokens | string | null>>>();
// `null`: there is no session to refresh.
expectType<RefreshGate>(createRefreshGate({ refresh: async () => null }));

// @ts-expect-error `refresh` is required
createRefreshGate({ maxReplays: 1 });
// @ts-expect-error a refresh must resolve to Tokens or a string, not a number
createRefreshGate({ refresh: async () => 42 });
// @ts-expect-error a refresh must return a promise
createRefreshGate({ refresh: () => 'sync-token' });
// @ts-expect-error Tokens need an accessToken
createRefreshGate({ refresh, initialTokens: { refreshToken: 'r' } });
// @ts-expect-error durations are numbers
createRefreshGate({ refresh, refreshTimeoutMs: '10s' });
// @ts-expect-error allowedOrigins holds strings and RegExps only
createRefreshGate({ refresh, allowedOrigins: [new URL('https://api.example.com')] });
// @ts-expect-error a logger needs debug as well as warn
createRefreshGate({ refresh, logger: { warn: () => {} } });
// @ts-expect-error options are an exact shape: unknown keys are refused in a literal
createRefreshGate({ refresh, retries: 3 });
expectType<GateLogger>(console);

// Under exactOptionalPropertyTypes, an optional field takes `undefined` as well: apps set them
// from values that may be unset (a token response without refresh_token, a config field).
declare const maybeString: string | undefined;
declare const maybeNumber: number | undefined;
expectType<Tokens>({ accessToken: 'a', refreshToken: maybeString, expiresAt: maybeNumber });
createRefreshGate({
  refresh,
  header: maybeString,
  cooldownMs: maybeNumber,
  initialTokens: undefined,
  refreshRetry: { retries: maybeNumber },
});
// @ts-expect-error but `null` is never a default: the gate refuses it at creation too
createRefreshGate({ refresh, cooldownMs: null });

// ---- skipAuthRefresh, by augmentation of axios' request config -----------------------------

expectType<Promise<AxiosResponse>>(api.get('/auth/refresh', { skipAuthRefresh: true }));
expectType<Promise<AxiosResponse>>(api.post('/auth/refresh', {}, { skipAuthRefresh: true }));
expectType<Promise<AxiosResponse>>(
  axios.create().request({ url: '/auth/refresh', method: 'POST', skipAuthRefresh: true }),
);
expectType<Promise<AxiosResponse>>(axios.get('/auth/refresh', { skipAuthRefresh: false, signal }));
expectTrue<Equal<InternalAxiosRequestConfig['skipAuthRefresh'], boolean | undefined>>();
// @ts-expect-error skipAuthRefresh is a boolean
api.get('/me', { skipAuthRefresh: 'yes' });
// @ts-expect-error skipAuthRefresh is a boolean, on axios.create() instances too
axios.create().request({ url: '/me', skipAuthRefresh: 1 });

// ---- RefreshGate ---------------------------------------------------------------------------

expectTrue<Equal<ReturnType<RefreshGate['attach']>, () => void>>();
expectTrue<Equal<ReturnType<RefreshGate['getAccessToken']>, Promise<string | null>>>();
expectTrue<Equal<ReturnType<RefreshGate['refresh']>, Promise<Tokens>>>();
expectTrue<Equal<ReturnType<RefreshGate['setTokens']>, Promise<void>>>();
expectTrue<Equal<ReturnType<RefreshGate['clear']>, Promise<void>>>();
expectTrue<Equal<ReturnType<RefreshGate['destroy']>, void>>();
expectTrue<Equal<Parameters<RefreshGate['setTokens']>, [tokens: Tokens]>>();
expectType<() => void>(gate.attach(axios.create()));
// @ts-expect-error setTokens needs an accessToken
gate.setTokens({ refreshToken: 'r' });

expectTrue<Equal<RefreshGateState['status'], 'idle' | 'refreshing' | 'cooldown'>>();
expectTrue<Equal<RefreshGateState['waiting'], number>>();
expectTrue<Equal<RefreshGateState['refreshes'], number>>();
expectTrue<Equal<RefreshGateState['failures'], number>>();
expectType<RefreshGateState>(gate.state);
// @ts-expect-error the state is read-only
gate.state.status = 'idle';
// @ts-expect-error the state is read-only
gate.state.waiting = 0;
// @ts-expect-error 'x' is not a status
expectType<RefreshGateState['status']>('x');
// @ts-expect-error the gate's state cannot be replaced
gate.state = { status: 'idle', waiting: 0, refreshes: 0, failures: 0 };

// ---- GateEvent -----------------------------------------------------------------------------

expectTrue<
  Equal<
    GateEvent,
    | 'refresh:start'
    | 'refresh:success'
    | 'refresh:failure'
    | 'refresh:retry'
    | 'request:queued'
    | 'request:replayed'
    | 'tokens:changed'
  >
>();
const off = gate.on('tokens:changed', (payload) => {
  expectTrue<Equal<typeof payload, Tokens | null>>();
});
expectTrue<Equal<typeof off, () => void>>();
// Each listener gets its event's payload, typed by GateEventMap: no cast needed.
gate.on('refresh:start', (event) => {
  expectTrue<Equal<typeof event.reason, 'unauthorized' | 'expiring' | 'manual'>>();
});
gate.on('refresh:success', ({ refreshed, replaced }) => {
  expectTrue<Equal<typeof refreshed, boolean>>();
  expectTrue<Equal<typeof replaced, true | undefined>>();
});
gate.on('refresh:failure', ({ error, aborted }) => {
  expectTrue<Equal<typeof error, unknown>>();
  expectTrue<Equal<typeof aborted, true | undefined>>();
});
gate.on('request:queued', ({ config, reason }) => {
  expectTrue<Equal<typeof config, InternalAxiosRequestConfig>>();
  expectTrue<Equal<typeof reason, 'held' | 'unauthorized'>>();
});
gate.on('request:replayed', ({ replays }) => {
  expectTrue<Equal<typeof replays, number>>();
});
expectTrue<Equal<GateEventMap['tokens:changed'], Tokens | null>>();
// @ts-expect-error the payload of refresh:start has no `error`
gate.on('refresh:start', (event) => event.error);
// @ts-expect-error not an event of the gate
gate.on('refresh:started', () => {});

// ---- RefreshGateError: codes and narrowing -------------------------------------------------

type Code =
  | 'REFRESH_TIMEOUT'
  | 'QUEUE_TIMEOUT'
  | 'COOLDOWN'
  | 'INVALID_TOKENS'
  | 'DESTROYED'
  | 'INVALID_OPTIONS'
  | 'NOT_REPLAYABLE'
  | 'LOCK_LOST'
  | 'NO_SESSION';
expectTrue<Equal<RefreshGateError['code'], Code>>();
expectTrue<Equal<RefreshGateErrorCode, Code>>();
expectTrue<Equal<(typeof RefreshGateErrorCode)['COOLDOWN'], 'COOLDOWN'>>();
expectTrue<Equal<RefreshGateError['cause'], unknown>>();
expectType<Error>(new RefreshGateError('COOLDOWN', 'no refresh for 5000 ms', { cause: caught }));
// @ts-expect-error not a code of the gate
new RefreshGateError('NOT_A_CODE', 'message');
declare const gateError: RefreshGateError;
// @ts-expect-error the code is read-only
gateError.code = 'COOLDOWN';
// @ts-expect-error not a code of the gate
expectType<RefreshGateErrorCode>('TIMEOUT');

if (isRefreshGateError(caught)) {
  expectTrue<Equal<typeof caught, RefreshGateError>>();
  // @ts-expect-error 'TIMEOUT' is not in the union, so this comparison can never be true
  expectType<boolean>(caught.code === 'TIMEOUT');
  switch (caught.code) {
    case 'COOLDOWN':
      expectTrue<Equal<typeof caught.code, 'COOLDOWN'>>();
      break;
    case 'REFRESH_TIMEOUT':
    case 'QUEUE_TIMEOUT':
    case 'INVALID_TOKENS':
    case 'DESTROYED':
    case 'INVALID_OPTIONS':
    case 'NOT_REPLAYABLE':
    case 'LOCK_LOST':
    case 'NO_SESSION':
      break;
    default:
      // Exhaustive: every code is handled above.
      expectType<never>(caught.code);
  }
}
if (caught instanceof RefreshGateError && caught.code === RefreshGateErrorCode.QUEUE_TIMEOUT) {
  expectTrue<Equal<typeof caught.code, 'QUEUE_TIMEOUT'>>();
}
expectTrue<Equal<Parameters<typeof isRefreshGateError>, [value: unknown]>>();

// ---- TokenStore: synchronous and asynchronous shapes ---------------------------------------

let held: Tokens | null = null;
const syncStore: TokenStore = {
  get: () => held,
  set: (tokens) => {
    held = tokens;
  },
  clear: () => {
    held = null;
  },
};
const asyncStore: TokenStore = {
  get: async () => held,
  set: async (tokens) => {
    expectTrue<Equal<typeof tokens, Tokens>>();
  },
  clear: async () => {},
  subscribe: (listener) => {
    expectTrue<Equal<typeof listener, (tokens: Tokens | null) => void>>();
    return () => {};
  },
};
expectType<RefreshGate>(createRefreshGate({ refresh, store: syncStore }));
expectType<RefreshGate>(createRefreshGate({ refresh, store: asyncStore }));
expectType<TokenStore>(memoryStore());
expectTrue<Equal<ReturnType<TokenStore['get']>, Tokens | null | Promise<Tokens | null>>>();
// @ts-expect-error a store needs clear
expectType<TokenStore>({ get: () => null, set: () => {} });
// @ts-expect-error get answers Tokens or null, not a bare string
expectType<TokenStore>({ get: () => 'token', set: () => {}, clear: () => {} });

// ---- Coordinator ---------------------------------------------------------------------------

const coordinator: Coordinator = {
  runExclusive: (fn, opts) => {
    expectTrue<Equal<typeof opts, { signal: AbortSignal; timeoutMs: number }>>();
    return fn();
  },
  publish: (tokens) => {
    expectTrue<Equal<typeof tokens, Tokens | null>>();
  },
  subscribe: () => () => {},
  dispose: () => {},
};
expectType<Coordinator>(inProcessCoordinator());
expectType<Coordinator>({ runExclusive: (fn) => fn() });
const ran = coordinator.runExclusive(async () => 42, { signal, timeoutMs: 0 });
expectTrue<Equal<typeof ran, Promise<number>>>();
expectType<RefreshGate>(createRefreshGate({ refresh, coordinator }));
// @ts-expect-error a coordinator needs runExclusive
expectType<Coordinator>({ publish: () => {} });
// @ts-expect-error runExclusive needs a signal and a timeout
coordinator.runExclusive(async () => 1, { timeoutMs: 0 });
