/**
 * The clients compared, each set up as its README documents:
 *
 * - `bare`: axios with a static Authorization header; no refresh at all (the reference).
 * - `gate`: `attachRefreshGate(instance, { refresh, initialTokens })`.
 * - `axios-auth-refresh`: `createAuthRefresh(instance, refreshAuthLogic)` (v5; the deprecated name
 *   is `createAuthRefreshInterceptor`) plus a request interceptor that sets the current token, as
 *   its README shows. Options are its defaults unless a variant says otherwise.
 * - `axios-jwt`: `applyAuthTokenInterceptor(instance, { requestRefresh, getStorage })` with an
 *   in-memory `StorageType` (its default, localStorage, does not exist in Node), tokens stored with
 *   `setAuthTokens`, and `requestRefresh` returning both tokens (the server rotates them). Its
 *   state is module-global, so only one axios-jwt client is live at a time.
 */
import type { Agent } from 'node:http';
import axios, { type AxiosInstance, type CreateAxiosDefaults } from 'axios';
import { createAuthRefresh } from 'axios-auth-refresh';
import { applyAuthTokenInterceptor, type StorageType, setAuthTokens } from 'axios-jwt';
import type { GateLogger, Tokens } from '../src/index.js';
import { attachRefreshGate } from './package.js';

export type ClientName =
  | 'bare'
  | 'gate'
  | 'axios-auth-refresh'
  | 'axios-auth-refresh*'
  | 'axios-jwt';

/** How each client is named in tables and on the chart. */
export const CLIENT_LABELS: Record<ClientName, string> = {
  bare: 'bare axios',
  gate: 'axios-refresh-gate',
  'axios-auth-refresh': 'axios-auth-refresh 5',
  'axios-auth-refresh*': 'axios-auth-refresh 5, deduplicateRefresh: false',
  'axios-jwt': 'axios-jwt 4',
};

/** The refresh call every client makes: same endpoint, same plain axios, same agent. */
export type RefreshCall = (
  refreshToken: string | undefined,
  signal?: AbortSignal,
) => Promise<Tokens>;

export interface ClientSetup {
  baseURL?: string;
  agent?: Agent;
  /** What the client starts with: the access token (maybe expired) and the refresh token. */
  tokens: Tokens;
  refresh: RefreshCall;
  /** Called on the new instance before anything is attached (e.g. to install a mock adapter). */
  prepare?: (instance: AxiosInstance) => void;
}

export interface BenchClient {
  readonly name: ClientName;
  readonly api: AxiosInstance;
  /** Refresh calls this client has made. */
  refreshCalls(): number;
  dispose(): void;
}

const quiet: GateLogger = { debug: () => {}, warn: () => {} };

function instance(setup: ClientSetup, defaults: CreateAxiosDefaults = {}): AxiosInstance {
  const api = axios.create({
    ...(setup.baseURL === undefined ? {} : { baseURL: setup.baseURL }),
    ...(setup.agent === undefined ? {} : { httpAgent: setup.agent }),
    ...defaults,
  });
  setup.prepare?.(api);
  return api;
}

function counted(refresh: RefreshCall): { refresh: RefreshCall; calls(): number } {
  let calls = 0;
  return {
    refresh: (token, signal) => {
      calls++;
      return refresh(token, signal);
    },
    calls: () => calls,
  };
}

export async function bareClient(setup: ClientSetup): Promise<BenchClient> {
  const api = instance(setup, {
    headers: { Authorization: `Bearer ${setup.tokens.accessToken}` },
  });
  return { name: 'bare', api, refreshCalls: () => 0, dispose: () => {} };
}

export async function gateClient(setup: ClientSetup): Promise<BenchClient> {
  const api = instance(setup);
  const { refresh, calls } = counted(setup.refresh);
  const gate = attachRefreshGate(api, {
    refresh: ({ tokens, signal }) => refresh(tokens?.refreshToken, signal),
    initialTokens: setup.tokens,
    logger: quiet,
  });
  return { name: 'gate', api, refreshCalls: calls, dispose: () => gate.destroy() };
}

/**
 * axios-auth-refresh with its defaults, or with `deduplicateRefresh: false` (`*`): by default it
 * stops intercepting the instance's 401s while its refresh runs (so that the refresh call may use
 * the instance), which fails every request whose 401 arrives during the refresh; the option keeps
 * intercepting them (our refresh call does not use the instance, so there is no loop).
 */
function authRefreshClient(deduplicateRefresh: boolean) {
  return async (setup: ClientSetup): Promise<BenchClient> => {
    const api = instance(setup);
    const { refresh, calls } = counted(setup.refresh);
    let tokens = setup.tokens;
    // README, "Usage": refresh, store the new token and set it on the failed request.
    const id = createAuthRefresh(
      api,
      async (failedRequest) => {
        tokens = await refresh(tokens.refreshToken);
        failedRequest.response.config.headers.Authorization = `Bearer ${tokens.accessToken}`;
      },
      deduplicateRefresh ? {} : { deduplicateRefresh: false },
    );
    // README, "Request interceptor": read the token on every request, so stalled ones get the new one.
    const requestId = api.interceptors.request.use((request) => {
      request.headers.Authorization = `Bearer ${tokens.accessToken}`;
      return request;
    });
    return {
      name: deduplicateRefresh ? 'axios-auth-refresh' : 'axios-auth-refresh*',
      api,
      refreshCalls: calls,
      dispose: () => {
        api.interceptors.response.eject(id);
        api.interceptors.request.eject(requestId);
      },
    };
  };
}

/** axios-jwt's `StorageType`, in memory (its README: "You can create your own storage"). */
function memoryStorage(): StorageType {
  const values = new Map<string, string>();
  return {
    remove: async (key) => {
      values.delete(key);
    },
    set: async (key, value) => {
      values.set(key, value);
    },
    get: async (key) => values.get(key) ?? null,
  };
}

export async function jwtClient(setup: ClientSetup): Promise<BenchClient> {
  const api = instance(setup);
  const { refresh, calls } = counted(setup.refresh);
  const storage = memoryStorage();
  applyAuthTokenInterceptor(api, {
    requestRefresh: async (refreshToken) => {
      const tokens = await refresh(refreshToken);
      // README: with rotating refresh tokens, return both.
      return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? '' };
    },
    getStorage: () => storage,
  });
  await setAuthTokens({
    accessToken: setup.tokens.accessToken,
    refreshToken: setup.tokens.refreshToken ?? '',
  });
  return {
    name: 'axios-jwt',
    api,
    refreshCalls: calls,
    dispose: () => {
      api.interceptors.request.clear();
    },
  };
}

export const clientFactories: Record<ClientName, (setup: ClientSetup) => Promise<BenchClient>> = {
  bare: bareClient,
  gate: gateClient,
  'axios-auth-refresh': authRefreshClient(true),
  'axios-auth-refresh*': authRefreshClient(false),
  'axios-jwt': jwtClient,
};
