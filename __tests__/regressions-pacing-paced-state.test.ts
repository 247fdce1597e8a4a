/**
 * Regression, from an adversarial review of the pacing (each failed before its fix): what the gate does meanwhile reaches requests in the pacer late, or not at all.
 */
import type { Tokens } from '../src/index';
import { deferred, flush } from './helpers/deferred';
import { gateOnFakePool, settle } from './helpers/pacing';

async function pacedAfterRefresh(n: number) {
  let refresh = deferred<Tokens>();
  const { api, gate, sent, drain } = gateOnFakePool(1, () => refresh.promise);
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
  expect(duringSecond.map(({ path }) => path)).not.toContain('/made-now');
  // ... and neither did the paced ones (before the fix they went out with t1 while it ran).
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
