// Compile-only: an app's use of 'axios-refresh-gate' as it reads under strict,
// exactOptionalPropertyTypes and noUncheckedIndexedAccess. Copied as .ts, .mts and .cts by
// scripts/check-consumer.mjs, so it is written to mean the same as ESM and as CommonJS.
import axios, { type AxiosError, type InternalAxiosRequestConfig } from 'axios';
import {
  attachRefreshGate,
  type Coordinator,
  createRefreshGate,
  type GateEventMap,
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
} from 'axios-refresh-gate';

/** An OAuth token endpoint's answer: only access_token is sure to be there. */
interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  expires_in?: number;
}

/** The config an app reads from its environment: any field may be unset. */
interface AppConfig {
  apiOrigin?: string;
  refreshTimeoutMs?: number;
  cooldownMs?: number;
  header?: string;
  retries?: number;
}
declare const config: AppConfig;

const api = axios.create({ baseURL: 'https://api.example.com' });
const auth = axios.create({ baseURL: 'https://auth.example.com' });

// Tokens built field by field from a response whose refresh_token may be missing.
const toTokens = (data: TokenResponse): Tokens => ({
  accessToken: data.access_token,
  refreshToken: data.refresh_token,
  expiresAt: data.expires_in === undefined ? undefined : Date.now() + data.expires_in * 1000,
});

async function refresh({ tokens, signal, reason, error }: RefreshContext): Promise<Tokens | null> {
  if (tokens?.refreshToken === undefined) return null;
  const status: number | undefined = error?.response?.status;
  void [reason, status];
  const { data } = await auth.post<TokenResponse>(
    '/token',
    { grant_type: 'refresh_token', refresh_token: tokens.refreshToken },
    { signal, skipAuthRefresh: true },
  );
  return toTokens(data);
}

// Optional options set from values that may be undefined.
const options: RefreshGateOptions = {
  refresh,
  store: memoryStore(),
  initialTokens: undefined,
  header: config.header,
  refreshTimeoutMs: config.refreshTimeoutMs,
  cooldownMs: config.cooldownMs,
  allowedOrigins: config.apiOrigin === undefined ? undefined : [config.apiOrigin],
  refreshRetry: { retries: config.retries, baseDelayMs: 200 },
  shouldRefresh: (failed: AxiosError) => failed.response?.status === 401,
  getExpiry: (tokens) => tokens.expiresAt ?? readJwtExpiry(tokens.accessToken),
  onRefreshFailed: (_error, { terminal }) => {
    if (terminal) void gate.clear();
  },
  logger: console,
};
const gate: RefreshGate = attachRefreshGate(api, options);
const other = createRefreshGate({
  refresh: async () => 'token',
  coordinator: inProcessCoordinator(),
});
other.attach(axios.create());

// Typed event payloads.
const stops: Array<() => void> = [
  gate.on('refresh:failure', ({ error, terminal, aborted, noSession }) => {
    const ends: boolean = terminal === true && aborted !== true && noSession !== true;
    if (ends && isRefreshGateError(error)) {
      const code: RefreshGateErrorCode = error.code;
      void code;
    }
  }),
  gate.on('refresh:success', ({ refreshed, replaced, reason }) => {
    void [refreshed, replaced === true, reason satisfies 'unauthorized' | 'expiring' | 'manual'];
  }),
  gate.on('refresh:retry', ({ attempt, delayMs }) => void (attempt + delayMs)),
  gate.on('request:queued', ({ config: queued, reason }) => void [queued.url, reason]),
  gate.on('tokens:changed', (tokens) => void tokens?.accessToken),
];
const payload: GateEventMap['refresh:start'] = { reason: 'manual' };
void payload;

// State, for useSyncExternalStore or any store of a framework.
const unsubscribe = gate.subscribe(() => {
  const state: RefreshGateState = gate.state;
  const signedIn: boolean | null = state.signedIn;
  const held: Tokens | null | undefined = gate.tokens;
  void [signedIn, held?.refreshToken, state.status, state.waiting];
});

async function session(): Promise<void> {
  const { data } = await auth.post<TokenResponse>('/login', { user: 'u' });
  await gate.setTokens(toTokens(data));
  await gate.setTokens({ accessToken: data.access_token, refreshToken: data.refresh_token });
  const token: string | null = await gate.getAccessToken();
  const fresh: Tokens = await gate.refresh();
  void [token, fresh.expiresAt];
  try {
    await api.get('/me');
  } catch (caught) {
    if (caught instanceof RefreshGateError && caught.code === RefreshGateErrorCode.COOLDOWN) return;
    if (isRefreshGateError(caught)) void caught.message;
  }
  await gate.clear();
}

// A store of the app's own, with an optional refresh token it may not have.
let saved: Tokens | null = null;
const appStore: TokenStore = {
  get: () => saved,
  set: (tokens) => {
    saved = { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken };
  },
  clear: () => {
    saved = null;
  },
};
const coordinator: Coordinator = {
  runExclusive: (fn) => fn(),
};

// The axios augmentation came along with the package's types.
void api.post('/auth/refresh', undefined, { skipAuthRefresh: true });
api.interceptors.request.use((request: InternalAxiosRequestConfig) => {
  const skip: boolean | undefined = request.skipAuthRefresh;
  void skip;
  return request;
});
// @ts-expect-error skipAuthRefresh is a boolean
void api.get('/me', { skipAuthRefresh: 'yes' });
// @ts-expect-error an access token is required
void gate.setTokens({ refreshToken: 'r' });

export const core = [stops, unsubscribe, session, appStore, coordinator, other];
