/**
 * One storm: log in, let the access token expire, fire N concurrent GETs through a client against
 * the auth server (in its own process), and count what happened on both sides of the wire.
 */
import { Agent } from 'node:http';
import axios, { isAxiosError } from 'axios';
import type { TokenResponse } from '../examples/server/auth-server.js';
import type { Tokens } from '../src/index.js';
import type { AuthProcess, ServerStats } from './auth-process.js';
import { type BenchClient, type ClientName, clientFactories, type RefreshCall } from './clients.js';
import { isRefreshGateError } from './package.js';
import { sleep } from './shared.js';

/** Sockets per client: enough to keep the server busy, few enough that 100k requests queue in the
 *  agent instead of opening 100k descriptors. */
export const MAX_SOCKETS = 256;

export const newAgent = () => new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });

/** Lifetime of refreshed access tokens: longer than any storm, so that no client's proactive
 *  window (the gate's 30 s, axios-jwt's 10 s) starts a second refresh in the middle of one. */
export const REFRESHED_TTL_MS = 15 * 60_000;

/**
 * Logins and refresh calls go through an agent of their own, so that they never queue behind the
 * storm's requests; without keep-alive, because they are rare and an idle keep-alive socket the
 * server has just timed out fails the next call with "socket hang up".
 */
const authAgent = new Agent({ keepAlive: false });

const toTokens = (data: TokenResponse): Tokens => ({
  accessToken: data.accessToken,
  refreshToken: data.refreshToken,
  expiresAt: data.expiresAt,
});

export function refreshCall(baseURL: string): RefreshCall {
  return async (refreshToken, signal) => {
    const { data } = await axios.post<TokenResponse>(
      `${baseURL}/auth/refresh`,
      { refreshToken },
      { httpAgent: authAgent, ...(signal ? { signal } : {}) },
    );
    return toTokens(data);
  };
}

/** Logs in with a 1 ms access-token lifetime and waits until it has passed: the token is expired
 *  for the server and for every client that reads `exp` or `expiresAt`. */
export async function expiredLogin(server: AuthProcess): Promise<Tokens> {
  await server.knobs({ accessTtlMs: 1 });
  let tokens: Tokens;
  try {
    const { data } = await axios.post<TokenResponse>(
      `${server.url}/auth/login`,
      { username: 'alice', password: 'secret' },
      { httpAgent: authAgent },
    );
    tokens = toTokens(data);
  } finally {
    await server.knobs({ accessTtlMs: REFRESHED_TTL_MS });
  }
  while (Date.now() <= (tokens.expiresAt ?? 0) + 1) await sleep(2);
  return tokens;
}

export function errorKind(reason: unknown): string {
  if (isRefreshGateError(reason)) return reason.code;
  if (isAxiosError(reason))
    return reason.response ? `HTTP ${reason.response.status}` : (reason.code ?? 'network');
  if (reason instanceof Error) {
    // axios-jwt wraps refresh failures in plain Errors; keep their gist, not every token.
    return reason.message.length > 60 ? `${reason.message.slice(0, 57)}...` : reason.message;
  }
  return typeof reason;
}

export interface StormResult {
  client: ClientName;
  n: number;
  /** Time until every request settled, ms; null when they did not within the budget. */
  ms: number | null;
  budgetMs: number;
  /** CPU time of this (the client) process while the requests ran, ms. */
  cpuMs: number;
  succeeded: number;
  failed: number;
  /** Requests still unsettled when the budget ran out. */
  hung: number;
  errors: Record<string, number>;
  /** For the reference: how long its one refresh took. */
  refreshMs?: number;
  /** Refresh calls the client made (its refresh function ran). */
  clientRefreshes: number;
  server: Pick<
    ServerStats,
    | 'apiRequests'
    | 'apiOk'
    | 'api401'
    | 'refreshCalls'
    | 'refreshSuccesses'
    | 'refreshFailures'
    | 'reuseDetected'
    | 'familiesRevoked'
    | 'staleTokenRequests'
    | 'concurrentRefreshMax'
  >;
  /** A request made through the client after the storm still succeeds; null when it did not settle. */
  sessionAlive: boolean | null;
}

/** Fires `n` GETs at once; resolves when all settled or the budget ran out. */
async function fire(
  client: BenchClient,
  n: number,
  budgetMs: number,
): Promise<{
  /** Settles when every request has (for a run over its budget: later, or never). */
  all: Promise<void>;
  ms: number | null;
  cpuMs: number;
  succeeded: number;
  failed: number;
  errors: Record<string, number>;
}> {
  const errors: Record<string, number> = {};
  let succeeded = 0;
  let failed = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const ok = () => {
    if (++succeeded + failed === n) done();
  };
  const fail = (reason: unknown) => {
    const kind = errorKind(reason);
    errors[kind] = (errors[kind] ?? 0) + 1;
    if (succeeded + ++failed === n) done();
  };
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<'budget'>((resolve) => {
    timer = setTimeout(() => resolve('budget'), budgetMs);
  });
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) client.api.get(`/api/items/${i}`).then(ok, fail);
  const outcome = await Promise.race([all.then(() => 'settled' as const), budget]);
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  clearTimeout(timer);
  return {
    all,
    ms: outcome === 'settled' ? ms : null,
    cpuMs: (used.user + used.system) / 1000,
    succeeded,
    failed,
    errors,
  };
}

function pickStats(stats: ServerStats): StormResult['server'] {
  return {
    apiRequests: stats.apiRequests,
    apiOk: stats.apiOk,
    api401: stats.api401,
    refreshCalls: stats.refreshCalls,
    refreshSuccesses: stats.refreshSuccesses,
    refreshFailures: stats.refreshFailures,
    reuseDetected: stats.reuseDetected,
    familiesRevoked: stats.familiesRevoked,
    staleTokenRequests: stats.staleTokenRequests,
    concurrentRefreshMax: stats.concurrentRefreshMax,
  };
}

/** How long a run over its budget may take to fail its leftover requests once the server is gone. */
export const DRAIN_MS = 20_000;

/**
 * A storm of `n` requests through `name`, starting with an expired token. For `bare` it is the
 * reference: one refresh, then `n` requests with the new token, timed together.
 *
 * A run over its budget is recorded as such and then stopped: `stopServer` closes the auth server
 * (the caller starts a new one for the next run), so that the client's leftover requests fail fast
 * instead of competing with the next run; they get DRAIN_MS to do so.
 */
export async function runStorm(
  server: AuthProcess,
  name: ClientName,
  n: number,
  budgetMs: number,
  stopServer: () => Promise<void>,
): Promise<StormResult> {
  const initial = await expiredLogin(server);
  const refresh = refreshCall(server.url);
  await server.reset();
  const agent = newAgent();
  let client: BenchClient | undefined;
  try {
    let refreshMs: number | undefined;
    let fired: Awaited<ReturnType<typeof fire>>;
    if (name === 'bare') {
      const started = performance.now();
      const tokens = await refresh(initial.refreshToken);
      refreshMs = performance.now() - started;
      client = await clientFactories.bare({ baseURL: server.url, agent, tokens, refresh });
      fired = await fire(client, n, Math.max(1, budgetMs - refreshMs));
      if (fired.ms !== null) fired.ms += refreshMs;
    } else {
      client = await clientFactories[name]({
        baseURL: server.url,
        agent,
        tokens: initial,
        refresh,
      });
      fired = await fire(client, n, budgetMs);
    }
    const stats = pickStats(await server.stats());
    let sessionAlive: boolean | null = null;
    if (fired.ms === null) {
      await stopServer();
      await Promise.race([fired.all, sleep(DRAIN_MS)]);
    } else {
      sessionAlive = await client.api.get('/api/me').then(
        () => true,
        () => false,
      );
    }
    return {
      client: name,
      n,
      ms: fired.ms,
      budgetMs,
      cpuMs: fired.cpuMs,
      succeeded: fired.succeeded,
      failed: fired.failed,
      hung: n - fired.succeeded - fired.failed,
      errors: fired.errors,
      ...(refreshMs === undefined ? {} : { refreshMs }),
      clientRefreshes: name === 'bare' ? 1 : client.refreshCalls(),
      server: stats,
      sessionAlive,
    };
  } finally {
    client?.dispose();
    agent.destroy();
  }
}
