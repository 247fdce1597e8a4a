import { Agent } from 'node:http';
import axios, { type AxiosAdapter, type InternalAxiosRequestConfig, isAxiosError } from 'axios';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { gatedClient, login } from '../../examples/storm.js';
import { isRefreshGateError, type RefreshGateOptions } from '../../src/index.js';
import { deferred } from '../helpers/deferred.js';

const httpAdapter = axios.getAdapter('http');

let server: AuthServer;
let agent: Agent;

beforeEach(async () => {
  server = await startAuthServer({ port: 0, refreshLatencyMs: 20 });
  agent = new Agent({ keepAlive: true });
});

afterEach(async () => {
  agent.destroy();
  await server.close();
});

/** A gated client whose adapter records, in order, the token every request left with. */
async function setup(options: Partial<RefreshGateOptions> = {}) {
  const initial = await login(server.url);
  const { api, gate } = gatedClient(server.url, initial, options, agent);
  const wire: Array<{ token: string; url: string }> = [];
  const events: string[] = [];
  gate.on('refresh:start', () => events.push(`refresh:start@${wire.length}`));
  const adapter: AxiosAdapter = (config: InternalAxiosRequestConfig) => {
    wire.push({ token: String(config.headers.get('Authorization')), url: config.url ?? '' });
    return httpAdapter(config);
  };
  api.defaults.adapter = adapter;
  return { api, gate, initial, wire, events };
}

it('1,000 concurrent requests with an expired token: one refresh, all succeed, no stale token after it began', async () => {
  const { api, gate, initial, wire, events } = await setup();
  server.expireAll();
  server.resetStats();

  const results = await Promise.allSettled(
    Array.from({ length: 1000 }, (_, i) => api.get(`/api/items/${i}`)),
  );

  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1000);
  expect(server.stats.refreshCalls).toBe(1);
  expect(server.stats.refreshSuccesses).toBe(1);
  expect(server.stats.familiesRevoked).toBe(0);
  expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1 });

  // Everything that left after the refresh began carried the new token: no stale token on the wire.
  expect(events).toHaveLength(1);
  const began = Number(events[0]!.split('@')[1]);
  const stale = `Bearer ${initial.accessToken}`;
  const after = wire.slice(began);
  expect(after.length).toBeGreaterThanOrEqual(1000 - began);
  expect(after.filter((request) => request.token === stale)).toEqual([]);
  // The first 401 stopped the stream at once: requests not yet sent were held, not sent stale.
  expect(wire.filter((request) => request.token === stale).length).toBe(began);
});

it('a late stale 401, answered after the refresh, is replayed without a second refresh', async () => {
  const { api, initial } = await setup();
  const release = deferred<void>();
  // Holds the answer to /api/slow until the refresh is over, as a slow network would.
  api.defaults.adapter = async (config) => {
    const response = httpAdapter(config);
    if (config.url === '/api/slow') await release.promise;
    return response;
  };
  server.expireAll();
  server.resetStats();

  const slow = api.get('/api/slow');
  await new Promise((resolve) => setTimeout(resolve, 20));
  await expect(api.get('/api/fast')).resolves.toMatchObject({ status: 200 });
  expect(server.stats.refreshCalls).toBe(1);

  release.resolve();
  const late = await slow;
  expect(late.status).toBe(200);
  expect(late.config.headers.get('Authorization')).not.toBe(`Bearer ${initial.accessToken}`);
  expect(server.stats.refreshCalls).toBe(1);
  expect(server.stats.familiesRevoked).toBe(0);
});

it('a failing refresh rejects every waiting request with that same error', async () => {
  const onRefreshFailed = jest.fn();
  const { api, gate } = await setup({ onRefreshFailed });
  server.expireAll();
  server.resetStats();
  server.knobs.refreshFailure = 401;

  const results = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) => api.get(`/api/items/${i}`)),
  );

  const reasons = results.map((r) => (r.status === 'rejected' ? r.reason : r));
  expect(server.stats.refreshCalls).toBe(1);
  expect(onRefreshFailed).toHaveBeenCalledTimes(1);
  const failure = onRefreshFailed.mock.calls[0]![0];
  // The refresh endpoint's answer, not each request's own 401.
  expect(isAxiosError(failure) && failure.config?.url).toBe(`${server.url}/auth/refresh`);
  // Requests that were waiting get the failure itself; a 401 that arrives after the refresh
  // failed is refused by the cooldown, with the same failure as its cause (rule 6).
  for (const reason of reasons) {
    if (reason !== failure) {
      expect(isRefreshGateError(reason) && reason.code).toBe('COOLDOWN');
      expect((reason as Error).cause).toBe(failure);
    }
  }
  expect(reasons.filter((reason) => reason === failure).length).toBeGreaterThan(0);
  expect(gate.state).toMatchObject({ status: 'cooldown', waiting: 0, failures: 1 });
});

it('a hanging refresh times out: ctx.signal aborts the call and every waiter gets REFRESH_TIMEOUT', async () => {
  const { api, gate } = await setup({ refreshTimeoutMs: 300 });
  server.expireAll();
  server.resetStats();
  server.knobs.refreshHang = true;

  const results = await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) => api.get(`/api/items/${i}`)),
  );

  expect(server.stats.refreshCalls).toBe(1);
  for (const result of results) {
    expect(result.status).toBe('rejected');
    const reason = (result as PromiseRejectedResult).reason;
    expect(isRefreshGateError(reason) && reason.code).toBe('REFRESH_TIMEOUT');
  }
  expect(gate.state).toMatchObject({ waiting: 0, failures: 1 });
});

it('a proactive refresh before expiry: requests never see a 401', async () => {
  const { api, gate, initial } = await setup({ refreshBeforeExpiryMs: 120_000 });
  server.resetStats();

  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => api.get(`/api/items/${i}`)),
  );

  expect(
    results.every((r) => r.config.headers.get('Authorization') !== `Bearer ${initial.accessToken}`),
  ).toBe(true);
  expect(server.stats.refreshCalls).toBe(1);
  expect(server.stats.api401).toBe(0);
  expect(gate.state.refreshes).toBe(1);
});
