/**
 * Regression, from an adversarial review of the pacing (each failed before its fix): one pacer for all held requests. A request bound for a healthy server (another agent,
 * or another host of the same agent) waits behind a bounded agent whose queue does not drain.
 * Real loopback servers and real agents.
 */
import { Agent, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { createRefreshGate, type Tokens } from '../src/index';
import { deferred, flush } from './helpers/deferred';
import { race } from './helpers/pacing';

async function listen(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

let slow: { server: Server; url: string };
let healthy: { server: Server; url: string };
beforeEach(async () => {
  slow = await listen(() => {}); // never answers
  healthy = await listen((_req, res) => res.end('ok'));
});
afterEach(async () => {
  for (const { server } of [slow, healthy]) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

async function scenario(
  healthyAgent: (shared: Agent) => Agent | undefined,
  key: 'httpAgent' | 'httpsAgent' = 'httpAgent',
) {
  const shared = new Agent({ keepAlive: true, maxSockets: 1 });
  const toSlow = axios.create({ baseURL: slow.url, httpAgent: shared });
  const other = healthyAgent(shared);
  const toHealthy = axios.create({ baseURL: healthy.url, ...(other ? { [key]: other } : {}) });
  const refresh = deferred<Tokens>();
  const gate = createRefreshGate({
    refresh: () => refresh.promise,
    logger: { debug() {}, warn() {} },
    allowedOrigins: [slow.url, healthy.url],
  });
  gate.attach(toSlow);
  gate.attach(toHealthy);
  await gate.setTokens({ accessToken: 'old' });
  const manual = gate.refresh();
  await flush();
  const slowOnes = Array.from({ length: 10 }, (_, i) => toSlow.get(`/s${i}`).catch(() => 'failed'));
  const ok = toHealthy.get('/ok', { timeout: 2_000 }).then(
    (r) => r.data,
    (e: Error) => `rejected: ${e.message}`,
  );
  await flush();
  refresh.resolve({ accessToken: 'new' });
  await manual;
  const outcome = await race(ok, 3_000); // past the request's own 2 s timeout
  gate.destroy();
  shared.destroy();
  if (other !== shared) other?.destroy();
  void slowOnes;
  return outcome;
}

test('a request to a healthy server through its own (unbounded, default) agent is not held behind a stuck pool', async () => {
  expect(await scenario(() => undefined)).toBe('ok');
});

test('a request to a healthy server through another bounded agent is not held behind a stuck pool', async () => {
  expect(await scenario(() => new Agent({ keepAlive: true, maxSockets: 8 }))).toBe('ok');
});

test('the same agent, another host: maxSockets is per host, yet the queue is summed over hosts', async () => {
  expect(await scenario((shared) => shared)).toBe('ok');
});

test('an http URL whose config also names a bounded httpsAgent: the agent it never uses holds it back', async () => {
  // toHealthy goes out through the default http agent; its httpsAgent is only configured.
  expect(await scenario((shared) => shared, 'httpsAgent')).toBe('ok');
});
