/**
 * The request storm shared by the demo, the integration tests and the benchmarks: log in against
 * the real auth server, let the access token expire, fire N concurrent requests through a client,
 * and count what happened on both sides of the wire.
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
import type { AuthServer, TokenResponse } from './server/auth-server.js';

export type ClientKind = 'naive' | 'gated';

export interface StormResult {
  client: string;
  requests: number;
  succeeded: number;
  failed: number;
  /** Refresh calls the server received. */
  refreshCalls: number;
  /** Token families the server revoked (reuse of a rotated refresh token). */
  familiesRevoked: number;
  /** Whether the user's session survived: a request made after the storm still succeeds. */
  sessionAlive: boolean;
  /** Time for all N requests to settle. */
  ms: number;
  /** Failures by kind (`401`, `REFRESH_TIMEOUT`, ...). */
  errors: Record<string, number>;
}

/** Logs in and returns the token pair, as a login form would. */
export async function login(baseURL: string, username = 'alice'): Promise<Tokens> {
  const { data } = await axios.post<TokenResponse>(`${baseURL}/auth/login`, {
    username,
    password: 'secret',
  });
  return toTokens(data);
}

const toTokens = (data: TokenResponse): Tokens => ({
  accessToken: data.accessToken,
  refreshToken: data.refreshToken,
  expiresAt: data.expiresAt,
});

/** The refresh call, made with plain axios (not through the gated instance). */
export async function refreshTokens(
  baseURL: string,
  refreshToken: string | undefined,
  signal?: AbortSignal,
): Promise<Tokens> {
  const { data } = await axios.post<TokenResponse>(
    `${baseURL}/auth/refresh`,
    { refreshToken },
    signal ? { signal } : {},
  );
  return toTokens(data);
}

/**
 * The interceptor most apps start with: on a 401, refresh and retry once. No lock: every request
 * that sees the 401 refreshes on its own, each with the same refresh token.
 */
export function naiveClient(baseURL: string, initial: Tokens, agent?: Agent): AxiosInstance {
  let tokens = initial;
  const api = axios.create({ baseURL, ...(agent ? { httpAgent: agent } : {}) });
  api.interceptors.request.use((config) => {
    config.headers.set('Authorization', `Bearer ${tokens.accessToken}`);
    return config;
  });
  api.interceptors.response.use(undefined, async (error: unknown) => {
    const config = isAxiosError(error) ? error.config : undefined;
    if (
      !isAxiosError(error) ||
      error.response?.status !== 401 ||
      !config ||
      config.headers.get('x-retried')
    ) {
      throw error;
    }
    tokens = await refreshTokens(baseURL, tokens.refreshToken);
    config.headers.set('x-retried', '1');
    return api.request(config);
  });
  return api;
}

/** The same client with the gate: one refresh, everyone else waits and is replayed. */
export function gatedClient(
  baseURL: string,
  initial: Tokens,
  options: Partial<RefreshGateOptions> = {},
  agent?: Agent,
): { api: AxiosInstance; gate: RefreshGate } {
  const api = axios.create({ baseURL, ...(agent ? { httpAgent: agent } : {}) });
  const gate = attachRefreshGate(api, {
    refresh: ({ tokens, signal }) => refreshTokens(baseURL, tokens?.refreshToken, signal),
    initialTokens: initial,
    logger: { debug: () => {}, warn: () => {} },
    ...options,
  });
  return { api, gate };
}

function errorKind(reason: unknown): string {
  if (isRefreshGateError(reason)) return reason.code;
  if (isAxiosError(reason))
    return reason.response ? String(reason.response.status) : (reason.code ?? 'network');
  return reason instanceof Error ? reason.name : typeof reason;
}

/** Logs in, expires the token, fires `n` concurrent GETs through `kind`, and reports. */
export async function storm(server: AuthServer, kind: ClientKind, n: number): Promise<StormResult> {
  const agent = new Agent({ keepAlive: true });
  try {
    const initial = await login(server.url);
    server.expireAll();
    server.resetStats();
    const client =
      kind === 'naive'
        ? naiveClient(server.url, initial, agent)
        : gatedClient(server.url, initial, {}, agent);
    const api = 'api' in client ? client.api : client;

    const started = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => api.get(`/api/items/${i}`)),
    );
    const ms = performance.now() - started;

    const errors: Record<string, number> = {};
    for (const result of results) {
      if (result.status === 'rejected') {
        const kindOf = errorKind(result.reason);
        errors[kindOf] = (errors[kindOf] ?? 0) + 1;
      }
    }
    const { refreshCalls, familiesRevoked } = server.stats;
    const sessionAlive = await api.get('/api/me').then(
      () => true,
      () => false,
    );
    const succeeded = results.filter((result) => result.status === 'fulfilled').length;
    return {
      client: kind,
      requests: n,
      succeeded,
      failed: n - succeeded,
      refreshCalls,
      familiesRevoked,
      sessionAlive,
      ms,
      errors,
    };
  } finally {
    agent.destroy();
  }
}
