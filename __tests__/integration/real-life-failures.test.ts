/**
 * Real-life failures against the real loopback auth server (rotating refresh tokens, reuse
 * detection): the refresh's connection dropped (a phone losing signal for a moment), a 503 with
 * Retry-After, and a wrong password at login through the gated instance. The session is kept;
 * nothing is revoked; the login's 401 reaches its caller.
 */
import { Agent } from 'node:http';
import axios, { type AxiosError } from 'axios';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { login, refreshTokens } from '../../examples/storm.js';
import { attachRefreshGate, type RefreshGate } from '../../src/index.js';

jest.setTimeout(30_000);

let server: AuthServer;
let agent: Agent;
let gate: RefreshGate | undefined;
beforeEach(async () => {
  server = await startAuthServer({ port: 0 });
  agent = new Agent({ keepAlive: true });
});
afterEach(async () => {
  gate?.destroy();
  gate = undefined;
  agent.destroy();
  await server.close();
});

function setup() {
  const api = axios.create({ baseURL: server.url, httpAgent: agent });
  const failed: Array<{ error: unknown; terminal: boolean }> = [];
  const retries: number[] = [];
  gate = attachRefreshGate(api, {
    refresh: ({ tokens, signal }) =>
      tokens?.refreshToken
        ? refreshTokens(server.url, tokens.refreshToken, signal)
        : Promise.resolve(null),
    onRefreshFailed: (error, { terminal }) => failed.push({ error, terminal }),
    logger: { debug() {}, warn() {} },
  });
  gate.on('refresh:retry', ({ delayMs }) => retries.push(delayMs));
  return { api, gate, failed, retries };
}

const burst = (api: ReturnType<typeof axios.create>, n: number) =>
  Promise.allSettled(Array.from({ length: n }, (_, i) => api.get(`/api/items/${i}`)));

it("the refresh's connection dropped twice: retried in the same flight, 20 of 20 succeed, one rotation, nothing revoked", async () => {
  const { api, gate, failed, retries } = setup();
  await gate.setTokens(await login(server.url));
  server.expireAll();
  server.resetStats();
  server.knobs.refreshDrops = 2;
  const results = await burst(api, 20);
  expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(20);
  expect(retries).toHaveLength(2);
  expect(server.stats).toMatchObject({ refreshSuccesses: 1, reuseDetected: 0, familiesRevoked: 0 });
  expect(failed).toEqual([]);
  expect(gate.state).toMatchObject({ status: 'idle', failures: 0, refreshes: 1 });
});

it('503 with Retry-After: 1: the retry waits the second the server asked for, then succeeds', async () => {
  const { api, gate, failed, retries } = setup();
  await gate.setTokens(await login(server.url));
  server.expireAll();
  server.resetStats();
  server.knobs.refreshFailure = 503;
  server.knobs.refreshRetryAfterS = 1;
  gate.on('refresh:retry', () => {
    server.knobs.refreshFailure = false;
  });
  const started = Date.now();
  const results = await burst(api, 10);
  expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(10);
  expect(retries).toEqual([1_000]);
  expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  expect(failed).toEqual([]);
  expect(server.stats).toMatchObject({ refreshSuccesses: 1, familiesRevoked: 0 });
});

it('the session lost for good (refresh token revoked, 401): no retry, onRefreshFailed says terminal', async () => {
  const { api, gate, failed, retries } = setup();
  await gate.setTokens(await login(server.url));
  server.expireAll();
  server.knobs.refreshFailure = 401;
  const results = await burst(api, 5);
  expect(results.every((result) => result.status === 'rejected')).toBe(true);
  expect(retries).toEqual([]);
  expect(failed).toHaveLength(1);
  expect(failed[0]?.terminal).toBe(true);
});

it("a wrong password at login through the gated instance: the caller gets the login's own 401; no refresh, no cooldown, no onRefreshFailed", async () => {
  const { api, gate, failed } = setup();
  server.resetStats();
  const wrong = await api
    .post('/auth/login', { username: 'alice', password: 'wrong' })
    .catch((error: AxiosError) => error);
  expect((wrong as AxiosError).response?.status).toBe(401);
  expect(server.stats.refreshCalls).toBe(0);
  expect(failed).toEqual([]);
  expect(gate.state).toMatchObject({ status: 'idle', failures: 0 });
  // The right one then works, and the session with it.
  const { data } = await api.post('/auth/login', { username: 'alice', password: 'secret' });
  await gate.setTokens(data);
  await expect(api.get('/api/me')).resolves.toMatchObject({ status: 200 });
});
