/**
 * Starts examples/oidc/provider.mjs (a real `oidc-provider` and a protected API on loopback) as a
 * child process, and drives it over its HTTP control routes. oidc-provider is ESM-only, so jest
 * cannot import it; a child process is the design, and the child dies with its parent (SIGKILL on
 * exit here, and the child's IPC channel closing there).
 *
 * @example
 * ```ts
 * let oidc: OidcProvider;
 * beforeAll(async () => { oidc = await startOidcProvider(); });
 * afterAll(() => oidc?.stop());
 * const tokens = await oidc.login();
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Agent } from 'node:http';
import { join } from 'node:path';
import axios, { type AxiosInstance, isAxiosError } from 'axios';
import type { Tokens } from '../../src/index.js';

/** What the provider counted since the last reset (see examples/oidc/provider.mjs). */
export interface OidcStats {
  readonly tokenRequests: number;
  readonly failuresInjected: number;
  readonly refreshCalls: number;
  readonly refreshSuccesses: number;
  readonly rotations: number;
  readonly reuseDetected: number;
  readonly grantsRevoked: number;
  readonly api200: number;
  readonly api401: number;
}

/** The provider's answer at its token endpoint (and at the helper's `/login`). */
export interface OidcTokenResponse {
  readonly access_token: string;
  readonly refresh_token?: string;
  readonly expires_in: number;
  readonly token_type: string;
}

export interface OidcProvider {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** Base URL of the protected API: `GET ${apiUrl}/items/:id`. */
  readonly apiUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** A new grant for `alice` and its first token pair (minted with the provider's models). */
  login(): Promise<Tokens>;
  stats(): Promise<OidcStats>;
  /** Zeroes the stats and cancels pending failures. */
  reset(): Promise<void>;
  /** The next `count` token requests are dropped (`'drop'`) or answered 503. */
  failTokenRequests(count: number, mode: 'drop' | '503'): Promise<void>;
  /** Lifetime of the access tokens issued from now on, in whole seconds. */
  setAccessTokenTtl(seconds: number): Promise<void>;
  /** SIGTERM, then SIGKILL after 3 s; resolves once it exited. Idempotent. */
  stop(): Promise<void>;
}

/** Maps a token response to the gate's `Tokens`, `expires_in` counted from now. */
export const toTokens = (data: OidcTokenResponse): Tokens => ({
  accessToken: data.access_token,
  ...(data.refresh_token === undefined ? {} : { refreshToken: data.refresh_token }),
  expiresAt: Date.now() + data.expires_in * 1000,
});

/** `grant_type=refresh_token` at the token endpoint, with client_secret_basic. */
export async function refreshGrant(
  oidc: OidcProvider,
  refreshToken: string,
  signal?: AbortSignal,
): Promise<Tokens> {
  const { data } = await axios.post<OidcTokenResponse>(
    oidc.tokenEndpoint,
    new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    {
      auth: { username: oidc.clientId, password: oidc.clientSecret },
      ...(signal ? { signal } : {}),
    },
  );
  return toTokens(data);
}

/**
 * examples/storm.ts' naive interceptor against the provider: on a 401, refresh and retry once,
 * no lock, so every request that sees the 401 refreshes with the same refresh token.
 */
export function naiveOidcClient(oidc: OidcProvider, initial: Tokens, agent?: Agent): AxiosInstance {
  let tokens = initial;
  const api = axios.create({ baseURL: oidc.apiUrl, ...(agent ? { httpAgent: agent } : {}) });
  api.interceptors.request.use((config) => {
    config.headers.set('Authorization', `Bearer ${tokens.accessToken}`);
    return config;
  });
  api.interceptors.response.use(undefined, async (error: unknown) => {
    const config = isAxiosError(error) ? error.config : undefined;
    if (!isAxiosError(error) || error.response?.status !== 401 || !config) throw error;
    if (config.headers.get('x-retried')) throw error;
    tokens = await refreshGrant(oidc, tokens.refreshToken ?? '');
    config.headers.set('x-retried', '1');
    return api.request(config);
  });
  return api;
}

const script = join(__dirname, 'provider.mjs');
const running = new Set<ChildProcess>();
// A run that dies half-way must not leave providers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

interface Ready {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly loginUrl: string;
  readonly apiUrl: string;
  readonly controlUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Spawns the provider and resolves once it printed its ready line (rejects after 20 s). */
export async function startOidcProvider(
  options: { accessTokenTtlS?: number } = {},
): Promise<OidcProvider> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ACCESS_TOKEN_TTL_S: String(options.accessTokenTtlS ?? 2) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });

  const ready = await new Promise<Ready>((resolve, reject) => {
    let stdout = '';
    let done = false;
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`examples/oidc/provider.mjs ${why}\n${stderr}`));
    };
    const early = (code: number | null) => fail(`exited early (code ${code})`);
    const timer = setTimeout(() => fail('did not print its ready line within 20 s'), 20_000);
    child.once('exit', early);
    // Read on after the ready line too: a full pipe would block the child.
    child.stdout?.on('data', (chunk: Buffer) => {
      if (done) return;
      stdout += chunk.toString();
      // oidc-provider prints notices on stdout too: the ready line is the one that says so.
      const line = stdout.split('\n').find((text) => text.startsWith('{"ready":true'));
      if (line === undefined) return;
      done = true;
      clearTimeout(timer);
      child.off('exit', early);
      resolve(JSON.parse(line) as Ready);
    });
  });

  const control = axios.create({ baseURL: ready.controlUrl });
  let stopping: Promise<void> | undefined;
  return {
    issuer: ready.issuer,
    tokenEndpoint: ready.tokenEndpoint,
    apiUrl: ready.apiUrl,
    clientId: ready.clientId,
    clientSecret: ready.clientSecret,
    login: async () => toTokens((await axios.post<OidcTokenResponse>(ready.loginUrl)).data),
    stats: async () => (await control.get<OidcStats>('/stats')).data,
    reset: async () => {
      await control.post('/reset');
    },
    failTokenRequests: async (count, mode) => {
      await control.post('/fail-token', null, { params: { count, mode } });
    },
    setAccessTokenTtl: async (seconds) => {
      await control.post('/ttl', null, { params: { seconds } });
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        child.kill('SIGTERM');
        await exited;
        clearTimeout(killer);
      })();
      return stopping;
    },
  };
}
