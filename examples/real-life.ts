/**
 * The demo's real-life rounds, on the real auth server: a flaky network that drops the first two
 * refresh attempts' connections, and a wrong password typed into a login made through the client;
 * then a storm against a real OpenID provider.
 * Each runs the naive interceptor (which logs its user out when a refresh fails, as most apps'
 * do) against the gate (which logs out only on a terminal failure, as its README's quick start).
 */
import { Agent } from 'node:http';
import axios, { type AxiosInstance, isAxiosError } from 'axios';
import {
  attachRefreshGate,
  isRefreshGateError,
  type RefreshGate,
  type RefreshGateOptions,
  type Tokens,
} from '../src/index.js';
import { naiveOidcClient, refreshGrant, startOidcProvider } from './oidc/client.js';
import type { AuthServer, TokenResponse } from './server/auth-server.js';
import { login, refreshTokens } from './storm.js';

export interface RoundResult {
  client: string;
  refreshCalls: number;
  succeeded: number;
  requests: number;
  /** What each failure was, by kind (`401`, `ERR_NETWORK`, ...). */
  errors: Record<string, number>;
  /** The client logged its user out (its refresh-failed handler ran). */
  loggedOut: boolean;
  familiesRevoked: number;
  /** The user is still signed in: not logged out, and the session not revoked. */
  sessionKept: boolean;
}

/** A client the round can drive: the instance, and whether it has logged its user out. */
interface Client {
  api: AxiosInstance;
  loggedOut(): boolean;
  /** Its refresh-failed handler ran, terminal or not. */
  failureHandlerRan(): boolean;
  dispose(): void;
}

export function errorKind(reason: unknown): string {
  if (isRefreshGateError(reason)) return reason.code;
  if (isAxiosError(reason)) {
    const status = reason.response?.status;
    const body = reason.response?.data as { error?: unknown } | undefined;
    if (status === undefined) return reason.code ?? 'network';
    return typeof body?.error === 'string' ? `${status} ${body.error}` : String(status);
  }
  return reason instanceof Error ? reason.name : typeof reason;
}

/**
 * The naive interceptor with the logout most apps put in it: on a 401, refresh and retry once;
 * if the refresh fails, forget the tokens and send the user to the login page.
 */
function naive(server: AuthServer, initial: Tokens | undefined, agent: Agent): Client {
  let tokens = initial;
  let loggedOut = false;
  const api = axios.create({ baseURL: server.url, httpAgent: agent });
  api.interceptors.request.use((config) => {
    if (tokens) config.headers.set('Authorization', `Bearer ${tokens.accessToken}`);
    return config;
  });
  api.interceptors.response.use(undefined, async (error: unknown) => {
    const config = isAxiosError(error) ? error.config : undefined;
    if (!isAxiosError(error) || error.response?.status !== 401 || !config) throw error;
    if (config.headers.get('x-retried')) throw error;
    try {
      tokens = await refreshTokens(server.url, tokens?.refreshToken);
    } catch (refreshError) {
      tokens = undefined;
      loggedOut = true;
      throw refreshError;
    }
    config.headers.set('x-retried', '1');
    return api.request(config);
  });
  return { api, loggedOut: () => loggedOut, failureHandlerRan: () => loggedOut, dispose() {} };
}

/** The gate, wired as the README's quick start: no session is `null`, log out only if terminal. */
function gated(
  server: AuthServer,
  initial: Tokens | undefined,
  agent: Agent,
  options: Partial<RefreshGateOptions> = {},
): Client & { gate: RefreshGate } {
  let loggedOut = false;
  let handlerRan = false;
  const api = axios.create({ baseURL: server.url, httpAgent: agent });
  const gate = attachRefreshGate(api, {
    refresh: async ({ tokens, signal }) =>
      tokens?.refreshToken ? refreshTokens(server.url, tokens.refreshToken, signal) : null,
    ...(initial ? { initialTokens: initial } : {}),
    onRefreshFailed: (_, { terminal }) => {
      handlerRan = true;
      if (terminal) loggedOut = true;
    },
    logger: { debug() {}, warn() {} },
    ...options,
  });
  return {
    api,
    gate,
    loggedOut: () => loggedOut,
    failureHandlerRan: () => handlerRan,
    dispose: () => gate.destroy(),
  };
}

async function settle(
  name: string,
  server: AuthServer,
  client: Client,
  calls: Array<() => Promise<unknown>>,
): Promise<RoundResult> {
  const results = await Promise.allSettled(calls.map((call) => call()));
  const errors: Record<string, number> = {};
  for (const result of results) {
    if (result.status === 'rejected') {
      const kind = errorKind(result.reason);
      errors[kind] = (errors[kind] ?? 0) + 1;
    }
  }
  const { refreshCalls, familiesRevoked } = server.stats;
  client.dispose();
  return {
    client: name,
    refreshCalls,
    succeeded: results.filter((result) => result.status === 'fulfilled').length,
    requests: calls.length,
    errors,
    loggedOut: client.loggedOut(),
    familiesRevoked,
    sessionKept: !client.loggedOut() && familiesRevoked === 0,
  };
}

/**
 * A page's worth of requests (`n`) just after the access token expired, while the network drops
 * the first two refresh attempts' connections (a phone losing signal for a moment).
 */
export async function flakyNetworkRound(server: AuthServer, n = 20): Promise<RoundResult[]> {
  const agent = new Agent({ keepAlive: true });
  const clients: Array<[string, (initial: Tokens) => Client]> = [
    ['naive interceptor', (initial) => naive(server, initial, agent)],
    ['gate, retries off', (initial) => gated(server, initial, agent, { refreshRetry: false })],
    ['axios-refresh-gate', (initial) => gated(server, initial, agent)],
  ];
  const results: RoundResult[] = [];
  try {
    for (const [name, make] of clients) {
      const client = make(await login(server.url));
      server.expireAll();
      server.resetStats();
      server.knobs.refreshDrops = 2;
      const calls = Array.from({ length: n }, (_, i) => () => client.api.get(`/api/items/${i}`));
      results.push(await settle(name, server, client, calls));
      server.knobs.refreshDrops = 0;
    }
  } finally {
    agent.destroy();
  }
  return results;
}

export interface WrongPasswordResult {
  client: string;
  refreshCalls: number;
  /** What the login form's caller got for the wrong password. */
  told: string;
  /** The refresh-failed handler ran (the naive one logs out and redirects to the login page). */
  failureHandlerRan: boolean;
  /** The right password, typed at once after, signs in. */
  rightPasswordWorks: boolean;
}

/**
 * Nobody is logged in; the user types a wrong password into a login made through the client,
 * then the right one.
 */
export async function wrongPasswordRound(server: AuthServer): Promise<WrongPasswordResult[]> {
  const agent = new Agent({ keepAlive: true });
  const clients: Array<[string, () => Client]> = [
    ['naive interceptor', () => naive(server, undefined, agent)],
    ['axios-refresh-gate', () => gated(server, undefined, agent)],
  ];
  const results: WrongPasswordResult[] = [];
  try {
    for (const [name, make] of clients) {
      const client = make();
      server.resetStats();
      const signIn = (password: string) =>
        client.api.post<TokenResponse>('/auth/login', { username: 'alice', password });
      const told = await signIn('wrong').then(
        () => 'signed in (!)',
        (error: unknown) => errorKind(error),
      );
      const { refreshCalls } = server.stats;
      const rightPasswordWorks = await signIn('secret').then(
        () => true,
        () => false,
      );
      results.push({
        client: name,
        refreshCalls,
        told,
        failureHandlerRan: client.failureHandlerRan(),
        rightPasswordWorks,
      });
      client.dispose();
    }
  } finally {
    agent.destroy();
  }
  return results;
}

export interface ProviderRoundResult {
  client: string;
  refreshCalls: number;
  succeeded: number;
  requests: number;
  grantsRevoked: number;
  /** A request made after the storm still succeeds. */
  sessionUsable: boolean;
}

/**
 * A storm against a real OpenID provider (`oidc-provider`, rotating refresh tokens, reuse revokes
 * the grant): log in, let the 3 s access token expire, fire `n` requests through each client.
 */
export async function realProviderRound(n = 200): Promise<ProviderRoundResult[]> {
  const oidc = await startOidcProvider({ accessTokenTtlS: 3 });
  const agent = new Agent({ keepAlive: true });
  const results: ProviderRoundResult[] = [];
  try {
    for (const kind of ['naive interceptor', 'axios-refresh-gate']) {
      const initial = await oidc.login();
      await new Promise((resolve) =>
        setTimeout(resolve, (initial.expiresAt ?? 0) - Date.now() + 100),
      );
      await oidc.reset();
      let gate: RefreshGate | undefined;
      let api: AxiosInstance;
      if (kind === 'naive interceptor') api = naiveOidcClient(oidc, initial, agent);
      else {
        api = axios.create({ baseURL: oidc.apiUrl, httpAgent: agent });
        gate = attachRefreshGate(api, {
          refresh: async ({ tokens, signal }) =>
            tokens?.refreshToken ? refreshGrant(oidc, tokens.refreshToken, signal) : null,
          initialTokens: initial,
          logger: { debug() {}, warn() {} },
        });
      }
      const settled = await Promise.allSettled(
        Array.from({ length: n }, (_, i) => api.get(`/items/${i}`)),
      );
      const stats = await oidc.stats();
      const sessionUsable = await api.get('/items/after').then(
        () => true,
        () => false,
      );
      gate?.destroy();
      results.push({
        client: kind,
        refreshCalls: stats.refreshCalls,
        succeeded: settled.filter((result) => result.status === 'fulfilled').length,
        requests: n,
        grantsRevoked: stats.grantsRevoked,
        sessionUsable,
      });
    }
  } finally {
    agent.destroy();
    await oidc.stop();
  }
  return results;
}
