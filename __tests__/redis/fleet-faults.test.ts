/**
 * The faults of the README's table, with real processes (examples/fleet/worker.ts), a real
 * redis-server and the example auth server (rotating refresh tokens; a rotated one presented
 * again revokes the family). In each, a holder process is mid-refresh, its call at the provider,
 * and two more processes wait for the lock when the fault strikes. Each logs one `fault:` line:
 * refresh calls and rotations for the one expiry, families revoked, requests failed.
 * (The holder killed with SIGKILL or stopped with SIGSTOP: fleet.test.ts.)
 */
import { startWorker } from '../../examples/fleet/fleet.js';
import type { WorkerReport } from '../../examples/fleet/worker.js';
import { type Fleet, sleep, until, useFleet } from '../helpers/fleet.js';

jest.setTimeout(60_000);

const REQUESTS = 50;

/** Three processes; the holder's refresh call takes `latencyMs` at the provider. */
async function holderAndWaiters(fleet: Fleet, lockTtlMs: number, latencyMs: number) {
  const key = fleet.key();
  const names = ['holder', 'w2', 'w3'];
  const [holder, ...others] = await Promise.all(
    names.map((name) => startWorker(fleet.config(key, name, { requests: REQUESTS, lockTtlMs }))),
  );
  fleet.workers.push(holder!, ...others);
  await fleet.seed(key);
  fleet.auth.knobs.refreshLatencyMs = latencyMs;
  const holding = holder!.run();
  await until(() => fleet.auth.stats.refreshCalls === 1, 'the holder is mid-refresh');
  const waiting = others.map((worker) => worker.run());
  await until(async () => (await fleet.client.zcard(`${key}:queue`)) === 2, 'both are queued');
  return { key, reports: Promise.all([holding, ...waiting]) };
}

/** One expiry, one rotation, no family revoked, every request of every process succeeded. */
function expectOneRotation(fleet: Fleet, reports: WorkerReport[], fault: string) {
  const { stats } = fleet.auth;
  const failed = reports.flatMap((report) => Object.entries(report.errors));
  console.log(
    `fault: ${fault}: ${stats.refreshCalls} refresh call(s), ${stats.refreshSuccesses} rotation(s), ` +
      `${stats.familiesRevoked} families revoked, ` +
      `${reports.reduce((sum, report) => sum + report.succeeded, 0)}/${reports.length * REQUESTS} succeeded, ` +
      `in ${reports.map((report) => Math.round(report.ms)).join(' / ')} ms (holder / waiters)`,
  );
  expect(failed).toEqual([]);
  expect(reports.map((report) => report.succeeded)).toEqual([REQUESTS, REQUESTS, REQUESTS]);
  expect(stats.refreshCalls).toBe(1);
  expect(stats.refreshSuccesses).toBe(1);
  expect(stats.reuseDetected).toBe(0);
  expect(stats.familiesRevoked).toBe(0);
  expect(reports.map((report) => report.refreshes)).toEqual([1, 0, 0]);
}

describe('a healthy Redis', () => {
  const fleet = useFleet();

  it("the lock key deleted mid-refresh: the holder's lease runs on, it takes its lock back; one rotation", async () => {
    const { key, reports } = await holderAndWaiters(fleet, 1_500, 2_000);
    // Past lockTtlMs / 2 of Redis serving: only the holder's lease keeps the others out.
    await sleep(800);
    await fleet.client.del(`${key}:lock`);
    expectOneRotation(fleet, await reports, 'lock key deleted mid-refresh');
  });

  it('CLIENT PAUSE for 2 × lockTtlMs mid-refresh: nobody takes the lock over; one rotation', async () => {
    const { reports } = await holderAndWaiters(fleet, 1_000, 2_500);
    await fleet.client.call('CLIENT', 'PAUSE', '2000', 'ALL');
    expectOneRotation(fleet, await reports, 'CLIENT PAUSE 2 × lockTtlMs mid-refresh');
  });
});

describe.each([
  ['with persistence (appendonly)', true],
  ['without persistence (every key lost, the tokens too)', false],
])('redis-server restarted mid-refresh, %s', (name, persistence) => {
  const fleet = useFleet({ persistence });

  it("down 1 s, the provider's answer arriving while it is down: the holder stores it once Redis is back; one rotation", async () => {
    const { reports } = await holderAndWaiters(fleet, 3_000, 400);
    await fleet.redis.stop();
    await sleep(1_000);
    await fleet.redis.restart();
    expectOneRotation(fleet, await reports, `redis-server restarted mid-refresh ${name}`);
  });
});
