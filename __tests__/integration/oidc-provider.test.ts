/**
 * The gate against a real identity provider: `oidc-provider` (a certified OpenID Connect
 * provider) in a child process, rotating the refresh token on every use and revoking the whole
 * grant when a rotated one is presented again, with access tokens of a few seconds and a
 * protected API that answers 401 once they expire (see examples/oidc/provider.mjs).
 *
 * Counts only, no timing assertions. With OIDC_FIGURES=<file>, each test appends what it
 * measured to that file as one JSON line.
 */
import { appendFileSync } from 'node:fs';
import { Agent } from 'node:http';
import axios, { type AxiosInstance } from 'axios';
import {
  naiveOidcClient,
  type OidcProvider,
  type OidcStats,
  refreshGrant,
  startOidcProvider,
} from '../../examples/oidc/client.js';
import {
  attachRefreshGate,
  type RefreshGate,
  type RefreshGateOptions,
  type Tokens,
} from '../../src/index.js';

jest.setTimeout(90_000);

let oidc: OidcProvider;
let agent: Agent;
const gates: RefreshGate[] = [];
beforeAll(async () => {
  oidc = await startOidcProvider();
});
afterAll(async () => {
  await oidc?.stop();
});
beforeEach(() => {
  agent = new Agent({ keepAlive: true });
});
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
  agent.destroy();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `tokens`' access token has expired, by the provider's clock as well as ours. */
const expire = (tokens: Tokens) => sleep(Math.max(0, tokens.expiresAt! - Date.now()) + 100);

/** Logs in (a new grant) with access tokens of `ttlS` seconds, and lets the first one expire. */
async function expiredSession(ttlS: number): Promise<Tokens> {
  await oidc.setAccessTokenTtl(ttlS);
  const tokens = await oidc.login();
  await expire(tokens);
  await oidc.reset();
  return tokens;
}

function gatedClient(initial: Tokens, options: Partial<RefreshGateOptions> = {}) {
  const api = axios.create({ baseURL: oidc.apiUrl, httpAgent: agent });
  const issued: Tokens[] = [];
  const retries: number[] = [];
  const gate = attachRefreshGate(api, {
    refresh: async ({ tokens, signal }) => {
      if (!tokens?.refreshToken) return null;
      const next = await refreshGrant(oidc, tokens.refreshToken, signal);
      issued.push(next);
      return next;
    },
    initialTokens: initial,
    logger: { debug() {}, warn() {} },
    ...options,
  });
  gate.on('refresh:retry', ({ attempt }) => retries.push(attempt));
  gates.push(gate);
  return { api, gate, issued, retries };
}

const naiveClient = (initial: Tokens) => naiveOidcClient(oidc, initial, agent);

async function burst(api: AxiosInstance, n: number, from = 0): Promise<number> {
  const results = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => api.get(`/items/${from + i}`)),
  );
  return results.filter((result) => result.status === 'fulfilled').length;
}

/** Whether the provider still honours the grant behind `refreshToken` (it rotates it if so). */
const grantAlive = (refreshToken: string) =>
  refreshGrant(oidc, refreshToken).then(
    () => true,
    () => false,
  );

function record(test: string, figures: Record<string, unknown>, stats: OidcStats) {
  const file = process.env.OIDC_FIGURES;
  if (file) appendFileSync(file, `${JSON.stringify({ test, ...figures, stats })}\n`);
}

describe('a storm of 200 concurrent requests after the access token expired', () => {
  it('through the gate: 1 refresh at the provider, 0 grants revoked, 200 of 200 succeed', async () => {
    const { api, gate, issued } = gatedClient(await expiredSession(3));

    const succeeded = await burst(api, 200);
    const stats = await oidc.stats();
    record('storm, gated', { succeeded }, stats);

    expect(succeeded).toBe(200);
    expect(stats).toMatchObject({ refreshCalls: 1, rotations: 1, reuseDetected: 0 });
    expect(stats.grantsRevoked).toBe(0);
    // The gate knew the token had expired: it held every request, none was sent with it.
    expect(stats.api401).toBe(0);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    expect(await grantAlive(issued.at(-1)!.refreshToken!)).toBe(true);
  });

  it('through a naive interceptor: one refresh per 401, the reuse revokes the grant, the session is lost', async () => {
    const initial = await expiredSession(3);
    const api = naiveClient(initial);

    const succeeded = await burst(api, 200);
    const stats = await oidc.stats();
    record('storm, naive', { succeeded }, stats);

    // Every 401 refreshed with the same refresh token: the first rotated it, the next one was a
    // reuse, and the provider revoked the grant with every token of it.
    expect(stats.refreshCalls).toBeGreaterThan(1);
    expect(stats.reuseDetected).toBeGreaterThanOrEqual(1);
    expect(stats.grantsRevoked).toBe(1);
    expect(succeeded).toBeLessThan(200);
    expect(await grantAlive(initial.refreshToken!)).toBe(false);
  });
});

it('two expiries in a row (storm, wait out the expiry, storm again): 2 refreshes, nothing revoked', async () => {
  const { api, gate, issued } = gatedClient(await expiredSession(3));

  const first = await burst(api, 100);
  await expire(issued.at(-1)!);
  const second = await burst(api, 100, 100);
  const stats = await oidc.stats();
  record('two expiries, gated', { succeeded: first + second }, stats);

  expect(first + second).toBe(200);
  expect(stats).toMatchObject({
    refreshCalls: 2,
    rotations: 2,
    reuseDetected: 0,
    grantsRevoked: 0,
  });
  expect(gate.state).toMatchObject({ refreshes: 2, failures: 0 });
  expect(await grantAlive(issued.at(-1)!.refreshToken!)).toBe(true);
});

it.each([
  ['refreshing at expiry (refreshBeforeExpiryMs: 0): one refresh per expiry', true],
  ['the defaults: each token refreshed halfway through its life', false],
])(
  'steady load over many expiries, 4 loops for 12 s with 2 s tokens, %s, 0 failed, 0 revoked',
  async (_, atExpiry) => {
    const ttlS = 2;
    const durationMs = 12_000;
    await oidc.setAccessTokenTtl(ttlS);
    await oidc.reset();
    // At expiry: when the provider says the token expired (its 401, or our own clock first), not
    // halfway through its life (the default for a token shorter than refreshBeforeExpiryMs), so
    // that refreshes can be counted against expiries.
    const { api, gate } = gatedClient(
      await oidc.login(),
      atExpiry ? { refreshBeforeExpiryMs: 0 } : {},
    );

    let succeeded = 0;
    let failed = 0;
    const used = new Set<unknown>();
    const until = Date.now() + durationMs;
    const loop = async (id: number) => {
      for (let n = 0; Date.now() < until; n++) {
        await api.get(`/items/${id}-${n}`).then(
          (response) => {
            succeeded++;
            used.add(response.config.headers.get('Authorization'));
          },
          () => failed++,
        );
      }
    };
    await Promise.all([0, 1, 2, 3].map(loop));
    const stats = await oidc.stats();
    // The provider counts whole seconds: no token lives longer than ttlS, and each expires on a
    // whole second at least ttlS after the one before it (it is issued once that one expired). So
    // durationMs holds durationMs / ttlS expiries, give or take one at either end.
    const expiries = durationMs / (ttlS * 1000);
    record(
      `steady load, gated, ${atExpiry ? 'at expiry' : 'defaults'}`,
      { succeeded, failed, expiries, tokensUsed: used.size },
      stats,
    );

    expect(failed).toBe(0);
    expect(succeeded).toBeGreaterThan(0);
    expect(stats).toMatchObject({ reuseDetected: 0, grantsRevoked: 0 });
    expect(stats.rotations).toBe(stats.refreshCalls);
    if (atExpiry) {
      expect(stats.refreshCalls).toBeGreaterThanOrEqual(expiries - 1);
      expect(stats.refreshCalls).toBeLessThanOrEqual(expiries + 1);
      // No refresh was wasted: every token it brought was used (the login's, and one per refresh).
      expect(used.size).toBe(stats.refreshCalls + 1);
    } else {
      // Halfway through a token that lives 1 to 2 s (whole seconds): at most one per 0.5 s.
      expect(stats.refreshCalls).toBeGreaterThanOrEqual(expiries);
      expect(stats.refreshCalls).toBeLessThanOrEqual(durationMs / 500 + 1);
    }
    expect(gate.state).toMatchObject({ refreshes: stats.refreshCalls, failures: 0 });
  },
);

describe('the token endpoint fails for a moment', () => {
  it.each([
    { mode: 'drop' as const, count: 2 },
    { mode: '503' as const, count: 1 },
  ])(
    '$count × $mode: retried inside the single flight, all succeed, 1 rotation, not revoked',
    async ({ mode, count }) => {
      const { api, gate, retries, issued } = gatedClient(await expiredSession(3));
      await oidc.failTokenRequests(count, mode);

      const succeeded = await burst(api, 50);
      const stats = await oidc.stats();
      record(`transient ${count} × ${mode}, gated`, { succeeded, retries: retries.length }, stats);

      expect(succeeded).toBe(50);
      expect(retries).toHaveLength(count);
      expect(stats).toMatchObject({
        tokenRequests: count + 1,
        failuresInjected: count,
        refreshCalls: 1,
        rotations: 1,
        reuseDetected: 0,
        grantsRevoked: 0,
      });
      expect(gate.state).toMatchObject({ refreshes: 1, failures: 0 });
      expect(await grantAlive(issued.at(-1)!.refreshToken!)).toBe(true);
    },
  );
});
