/**
 * Regression, from an adversarial review of the pacing (each failed before its fix): requests in the pacer when the agent's queue does not drain (a slow or hung server).
 * They have left the flight's queue, so neither their AbortSignal, queueTimeoutMs nor destroy()
 * reaches them (rules 8, 9, 13, 18).
 */
import axios, { isCancel } from 'axios';
import { createRefreshGate, isRefreshGateError, type Tokens } from '../src/index';
import { deferred, flush } from './helpers/deferred';
import { fakePool, race } from './helpers/pacing';

async function paced(queueTimeoutMs = 0, signal?: AbortSignal) {
  // Never answers: the agent's queue never drains.
  const { agent, adapter, sent } = fakePool(1, { answers: false });
  const api = axios.create({ baseURL: 'https://api.test', httpsAgent: agent, adapter });
  const refresh = deferred<Tokens>();
  const gate = createRefreshGate({
    refresh: () => refresh.promise,
    logger: { debug() {}, warn() {} },
    refreshTimeoutMs: 0,
    queueTimeoutMs,
  });
  gate.attach(api);
  await gate.setTokens({ accessToken: 'old' });
  const manual = gate.refresh();
  await flush();
  // Slices of 2 until the stuck queue holds 4 (four pools): /r4, /r5 and /last wait in the pacer.
  // Caught: with queueTimeoutMs the ones still paced end too.
  const first = Array.from({ length: 6 }, (_, i) => api.get(`/r${i}`).catch(() => 'failed'));
  const last = api.get('/last', signal ? { signal } : {}).then(
    () => 'sent',
    (error: unknown) =>
      isCancel(error) ? 'canceled' : isRefreshGateError(error) ? error.code : String(error),
  );
  await flush();
  refresh.resolve({ accessToken: 'new' });
  await manual;
  // Slices go a millisecond apart.
  await flush(10);
  await new Promise((resolve) => setTimeout(resolve, 10));
  await flush(10);
  return { gate, sent, first, last };
}

test('an abort while paced rejects at once (rule 9)', async () => {
  const controller = new AbortController();
  const { gate, sent, last } = await paced(0, controller.signal);
  expect(sent).toHaveLength(4);
  controller.abort();
  expect(await race(last, 200)).toBe('canceled');
  gate.destroy();
});

test('destroy() while paced rejects the request with DESTROYED (rule 13)', async () => {
  const { gate, sent, last } = await paced();
  expect(sent).toHaveLength(4);
  gate.destroy();
  expect(await race(last, 200)).toBe('DESTROYED');
});

test('queueTimeoutMs bounds a request held for the refresh, paced or not (rules 8, 18)', async () => {
  const { gate, sent, last } = await paced(100);
  expect(sent).toHaveLength(4);
  expect(await race(last, 1_000)).toBe('QUEUE_TIMEOUT');
  gate.destroy();
});
