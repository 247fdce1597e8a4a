/**
 * Regression, from an adversarial review of the pacing (each failed before its fix): what the gate does meanwhile reaches requests in the pacer late, or not at all.
 */
import axios, { type AxiosAdapter, type InternalAxiosRequestConfig } from 'axios';
import { createRefreshGate, type Tokens } from '../src/index';
import { deferred, flush } from './helpers/deferred';

function pool(maxSockets: number) {
  const queue: Array<() => void> = [];
  class FakeAgent {
    readonly maxSockets = maxSockets;
    readonly requests = { 'api.test:443:': queue };
  }
  const agent = new FakeAgent();
  const sent: Array<[string, unknown]> = [];
  const adapter: AxiosAdapter = (config: InternalAxiosRequestConfig) =>
    new Promise((resolve) => {
      sent.push([String(config.url), config.headers.Authorization]);
      queue.push(() => resolve({ status: 200, statusText: 'OK', headers: {}, config, data: null }));
    });
  const drain = () => {
    for (const answer of queue.splice(0)) answer();
  };
  return { agent, adapter, sent, drain };
}

const settle = async () => {
  await flush(10);
  await new Promise((r) => setTimeout(r, 5));
  await flush(10);
};

async function pacedAfterRefresh(n: number) {
  const { agent, adapter, sent, drain } = pool(1);
  const api = axios.create({ baseURL: 'https://api.test', httpsAgent: agent, adapter });
  let refresh = deferred<Tokens>();
  const gate = createRefreshGate({
    refresh: () => refresh.promise,
    logger: { debug() {}, warn() {} },
    refreshTimeoutMs: 0,
    queueTimeoutMs: 0,
  });
  gate.attach(api);
  await gate.setTokens({ accessToken: 't0' });
  const first = gate.refresh();
  await flush();
  const requests = Array.from({ length: n }, (_, i) => api.get(`/r${i}`).catch((e: Error) => e));
  await flush();
  refresh.resolve({ accessToken: 't1' });
  await first;
  await settle();
  const next = () => {
    refresh = deferred<Tokens>();
    return refresh;
  };
  return { api, gate, sent, drain, requests, next };
}

test('rule 2: a refresh started while requests are paced holds them; none goes out with the old token', async () => {
  const { api, gate, sent, drain, requests, next } = await pacedAfterRefresh(12);
  expect(sent).toHaveLength(4);
  const second = next();
  const manual = gate.refresh(); // a second refresh runs: nothing may go out with t1 meanwhile
  await flush();
  expect(gate.state.status).toBe('refreshing');
  const fresh = api.get('/made-now');
  drain();
  await settle();
  const duringSecond = sent.slice(4);
  second.resolve({ accessToken: 't2' });
  await manual;
  while (sent.length < 13) {
    drain();
    await settle();
  }
  drain();
  await Promise.all([...requests, fresh]);
  // A request made during the second refresh is held (it is not in duringSecond) ...
  expect(duringSecond.map(([url]) => url)).not.toContain('/made-now');
  // ... but the paced ones went out with t1 while it ran.
  expect(duringSecond).toEqual([]);
  gate.destroy();
});

test('rule 13: destroy() leaves no timer behind while the pool is stuck', async () => {
  const timers = () =>
    (process as unknown as { getActiveResourcesInfo(): string[] })
      .getActiveResourcesInfo()
      .filter((r) => r === 'Timeout' || r === 'Immediate').length;
  const before = timers();
  const { gate, sent } = await pacedAfterRefresh(12); // never drained
  expect(sent).toHaveLength(4);
  gate.destroy();
  await settle();
  expect(timers()).toBe(before);
});
