/**
 * The example auth server's refresh route behind the deduper, against racing clients that have no
 * gate: one rotation for the racing calls, one pair for all, a late duplicate inside graceMs
 * served too, reuse detected after it, failures never cached.
 */
import { Agent } from 'node:http';
import axios, { type AxiosResponse } from 'axios';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { login } from '../../examples/storm.js';
import { createRefreshDeduper, type RefreshDeduper } from '../../src/server/index.js';

let server: AuthServer | undefined;
let deduper: RefreshDeduper | undefined;
let agent: Agent;

beforeEach(() => {
  agent = new Agent({ keepAlive: true });
});

afterEach(async () => {
  agent.destroy();
  await server?.close();
  deduper?.dispose();
  server = undefined;
  deduper = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function refresh(refreshToken: string | undefined): Promise<AxiosResponse> {
  return axios.post(
    `${server!.url}/auth/refresh`,
    { refreshToken },
    { httpAgent: agent, validateStatus: () => true },
  );
}

function race(refreshToken: string, n: number): Promise<AxiosResponse[]> {
  return Promise.all(Array.from({ length: n }, () => refresh(refreshToken)));
}

it('without the deduper, 50 racing refreshes with one refresh token trip reuse detection (the problem)', async () => {
  server = await startAuthServer({ port: 0, refreshLatencyMs: 20 });
  const { refreshToken } = await login(server.url);
  const answers = await race(refreshToken!, 50);
  expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
  expect(server.stats.reuseDetected).toBeGreaterThan(0);
  expect(server.stats.familiesRevoked).toBe(1);
});

it('50 concurrent refreshes with one refresh token: one rotation, one pair for all, and the pair works', async () => {
  server = await startAuthServer({ port: 0, refreshLatencyMs: 20, dedupe: true });
  const { refreshToken } = await login(server.url);
  const answers = await race(refreshToken!, 50);

  expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
  expect(new Set(answers.map((answer) => JSON.stringify(answer.data))).size).toBe(1);
  expect(server.stats).toMatchObject({
    refreshCalls: 50,
    refreshSuccesses: 1,
    refreshDeduped: 49,
    reuseDetected: 0,
    familiesRevoked: 0,
  });
  const pair = answers[0]!.data as { accessToken: string; refreshToken: string };
  const me = await axios.get(`${server.url}/api/me`, {
    headers: { Authorization: `Bearer ${pair.accessToken}` },
    httpAgent: agent,
  });
  expect(me.status).toBe(200);
  // The new refresh token rotates as usual.
  expect((await refresh(pair.refreshToken)).status).toBe(200);
});

it('a late duplicate inside graceMs gets the same pair; after graceMs the reuse is detected', async () => {
  deduper = createRefreshDeduper({ graceMs: 300 });
  server = await startAuthServer({ port: 0, dedupe: deduper });
  const { refreshToken } = await login(server.url);

  const first = await refresh(refreshToken);
  expect(first.status).toBe(200);
  const late = await refresh(refreshToken);
  expect(late.status).toBe(200);
  expect(late.data).toEqual(first.data);
  expect(server.stats).toMatchObject({ refreshSuccesses: 1, refreshDeduped: 1, reuseDetected: 0 });

  await sleep(400);
  const reused = await refresh(refreshToken);
  expect(reused.status).toBe(401);
  expect(reused.data).toMatchObject({ error: 'invalid_grant' });
  expect(server.stats).toMatchObject({ reuseDetected: 1, familiesRevoked: 1 });
});

it('a failed rotation is shared by the racing calls but not cached: the next call rotates', async () => {
  server = await startAuthServer({
    port: 0,
    refreshLatencyMs: 20,
    refreshFailure: 503,
    dedupe: true,
  });
  const { refreshToken } = await login(server.url);
  const failed = await race(refreshToken!, 10);
  expect(failed.map((answer) => answer.status)).toEqual(Array(10).fill(503));
  expect(server.stats.refreshFailures).toBe(10);

  server.knobs.refreshFailure = false;
  const retried = await race(refreshToken!, 10);
  expect(retried.map((answer) => answer.status)).toEqual(Array(10).fill(200));
  expect(new Set(retried.map((answer) => JSON.stringify(answer.data))).size).toBe(1);
  expect(server.stats).toMatchObject({ refreshSuccesses: 1, reuseDetected: 0, familiesRevoked: 0 });
});

it('a call that waits past waitTimeoutMs gets 429 slow_down, and a refresh without a token 400', async () => {
  deduper = createRefreshDeduper({ waitTimeoutMs: 100 });
  server = await startAuthServer({ port: 0, refreshHang: true, dedupe: deduper });
  const { refreshToken } = await login(server.url);
  const hung = refresh(refreshToken);
  hung.catch(() => {});
  while (server.stats.refreshCalls === 0) await sleep(5);
  const waiting = await refresh(refreshToken);
  expect(waiting.status).toBe(429);
  expect(waiting.data).toMatchObject({ error: 'slow_down' });
  expect(server.stats.refreshLog.at(-1)).toMatchObject({ status: 429, reason: 'dedupe_timeout' });
  expect((await refresh(undefined)).status).toBe(400);
});
