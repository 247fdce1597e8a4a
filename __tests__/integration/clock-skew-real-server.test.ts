/**
 * Issue 13, clock skew, on the real auth server: its clock set 5 minutes ahead of or behind this
 * machine's (`clockOffsetMs`), as a device whose clock is wrong by as much sees it. The client
 * computes `expiresAt` from `expiresIn` on its own clock, as OAuth clients do; the JWT's `exp`
 * is on the server's. With `clockSkew: 'auto'` the gate refreshes once per expiry and never sends
 * a token the server holds expired.
 */
import { Agent } from 'node:http';
import axios, { type AxiosInstance } from 'axios';
import {
  type AuthServer,
  startAuthServer,
  type TokenResponse,
} from '../../examples/server/auth-server.js';
import { attachRefreshGate, type RefreshGate, type Tokens } from '../../src/index.js';

jest.setTimeout(60_000);

const TTL_MS = 2_000;
const MINUTES_5 = 5 * 60_000;

let server: AuthServer;
let agent: Agent;
let gate: RefreshGate | undefined;
beforeEach(async () => {
  server = await startAuthServer({ port: 0, accessTtlMs: TTL_MS });
  agent = new Agent({ keepAlive: true });
});
afterEach(async () => {
  gate?.destroy();
  gate = undefined;
  agent.destroy();
  await server.close();
});

/** What an OAuth client does with a token response: the expiry on its own clock. */
const toTokens = (data: TokenResponse): Tokens => ({
  accessToken: data.accessToken,
  refreshToken: data.refreshToken,
  expiresAt: Date.now() + data.expiresIn * 1000,
});

/** Signs in through the gated instance, as in the README's quick start, or with plain axios. */
async function signedIn(
  clockSkew: 'auto' | false,
  loginThrough: 'gate' | 'plain axios' = 'gate',
): Promise<AxiosInstance> {
  const api = axios.create({ baseURL: server.url, httpAgent: agent });
  gate = attachRefreshGate(api, {
    refresh: async ({ tokens, signal }) => {
      if (!tokens?.refreshToken) return null;
      const { data } = await axios.post<TokenResponse>(
        `${server.url}/auth/refresh`,
        { refreshToken: tokens.refreshToken },
        { signal, httpAgent: agent },
      );
      return toTokens(data);
    },
    clockSkew,
    logger: { debug() {}, warn() {} },
  });
  const { data } = await (loginThrough === 'gate' ? api : axios).post<TokenResponse>(
    `${server.url}/auth/login`,
    {
      username: 'alice',
      password: 'secret',
    },
  );
  await gate.setTokens(toTokens(data));
  return api;
}

/** Three request loops for `ms`: counts what succeeded and what failed. */
async function steadyLoad(api: AxiosInstance, ms: number) {
  const until = Date.now() + ms;
  let ok = 0;
  let failed = 0;
  const codes = new Set<string>();
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      while (Date.now() < until) {
        await api.get('/api/items').then(
          () => ok++,
          (error: { code?: string }) => {
            failed++;
            codes.add(String(error.code));
          },
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }),
  );
  return { ok, failed, codes: [...codes] };
}

const RUN_MS = 3 * TTL_MS + 500;
/** A token of this short a life is refreshed halfway through it (rule 10): at most this many. */
const HALF_LIVES = Math.ceil(RUN_MS / (TTL_MS / 2));

describe.each([
  ['right', 0, 'gate'],
  ['5 minutes fast', -MINUTES_5, 'gate'],
  ['5 minutes slow', MINUTES_5, 'gate'],
  // No response has said the time before the first refresh: its token's iat does.
  ['5 minutes fast', -MINUTES_5, 'plain axios'],
] as const)(
  'a device clock %s (server %d ms off), clockSkew auto, login through %s',
  (_, offset, loginThrough) => {
    it('refreshes halfway through each 2 s token, as with a right clock, and never sends a token the server holds expired', async () => {
      server.knobs.clockOffsetMs = offset;
      const api = await signedIn('auto', loginThrough);
      server.resetStats();
      const { ok, failed } = await steadyLoad(api, RUN_MS);
      expect(failed).toBe(0);
      expect(ok).toBeGreaterThan(50);
      expect(server.stats.refreshCalls).toBeGreaterThanOrEqual(4);
      expect(server.stats.refreshCalls).toBeLessThanOrEqual(HALF_LIVES + 1);
      expect(server.stats.expiredTokenRequests).toBe(0);
      expect(server.stats.familiesRevoked).toBe(0);
    });
  },
);

it('without the estimate (clockSkew: false), a device 5 minutes fast judges every fresh token expired, and keeps the session', async () => {
  server.knobs.clockOffsetMs = -MINUTES_5;
  const api = await signedIn(false);
  server.resetStats();
  const { ok, codes } = await steadyLoad(api, RUN_MS);
  // The JWT's exp, read on a clock 5 minutes ahead, is long past: every token looks dead, and is
  // never sent. Each refreshed pair is stored all the same, so no rotated token is presented.
  expect(ok).toBe(0);
  expect(codes.sort()).toEqual(['COOLDOWN', 'INVALID_TOKENS']);
  expect(server.stats).toMatchObject({ reuseDetected: 0, familiesRevoked: 0, apiRequests: 0 });
  expect(server.stats.refreshSuccesses).toBe(server.stats.refreshCalls);
});
