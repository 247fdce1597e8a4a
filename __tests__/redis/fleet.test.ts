/**
 * Several Node processes sharing one set of tokens through a real redis-server, against the real
 * auth server (rotating refresh tokens, reuse detection). Each worker is a child process with its
 * own gate, `redisCoordinator` and `redisStore` (examples/fleet/worker.ts).
 */
import { startWorker } from '../../examples/fleet/fleet.js';
import { redisStore } from '../../src/redis/index.js';
import { until, useFleet } from '../helpers/fleet.js';

jest.setTimeout(60_000);

const fleet = useFleet();

/**
 * Seeds the tokens and starts a holder process whose refresh call hangs at the server (which
 * rotates nothing for it): it holds the lock mid-refresh when this resolves.
 */
async function holderMidRefresh(key: string, lockTtlMs: number) {
  await fleet.seed(key);
  fleet.auth.knobs.refreshHang = true;
  const holder = await startWorker(fleet.config(key, 'holder', { requests: 5, lockTtlMs }));
  fleet.workers = [holder];
  const holding = holder.run();
  holding.catch(() => {});
  await until(() => fleet.auth.stats.refreshCalls === 1, 'the holder is mid-refresh');
  return { holder, holding };
}

it('4 processes × 250 concurrent requests with an expired token: exactly one refresh, no family revoked, all 1,000 succeed', async () => {
  const key = fleet.key();
  fleet.auth.knobs.refreshLatencyMs = 50;
  fleet.workers = await Promise.all(
    ['w1', 'w2', 'w3', 'w4'].map((name) => startWorker(fleet.config(key, name))),
  );
  const stale = await fleet.seed(key);

  const reports = await Promise.all(fleet.workers.map((worker) => worker.run()));

  expect(reports.map((report) => report.succeeded)).toEqual([250, 250, 250, 250]);
  expect(fleet.auth.stats.refreshCalls).toBe(1);
  expect(fleet.auth.stats.refreshSuccesses).toBe(1);
  expect(fleet.auth.stats.reuseDetected).toBe(0);
  expect(fleet.auth.stats.familiesRevoked).toBe(0);
  expect(fleet.auth.stats.apiOk).toBe(1_000);
  // One process refreshed; the other three waited for the lock and adopted its tokens.
  expect(reports.map((report) => report.refreshes).reduce((a, b) => a + b)).toBe(1);
  const stored = await redisStore({ client: fleet.client, key }).get();
  expect(stored?.accessToken).not.toBe(stale.accessToken);
  expect(await fleet.client.exists(`${key}:lock`)).toBe(0);
  console.log(
    `fleet: 4 × 250 requests, ${fleet.auth.stats.refreshCalls} refresh, ${fleet.auth.stats.api401} 401s, ` +
      `slowest process ${Math.round(Math.max(...reports.map((report) => report.ms)))} ms`,
  );
});

it('8 processes × 500 concurrent requests through one expiry: exactly one rotation, no family revoked, all 4,000 succeed', async () => {
  const key = fleet.key();
  fleet.auth.knobs.refreshLatencyMs = 50;
  const names = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8'];
  fleet.workers = await Promise.all(
    names.map((name) => startWorker(fleet.config(key, name, { requests: 500 }))),
  );
  await fleet.seed(key);

  const reports = await Promise.all(fleet.workers.map((worker) => worker.run()));

  expect(reports.map((report) => report.succeeded)).toEqual(names.map(() => 500));
  expect(fleet.auth.stats.refreshCalls).toBe(1);
  expect(fleet.auth.stats.reuseDetected).toBe(0);
  expect(fleet.auth.stats.familiesRevoked).toBe(0);
  expect(fleet.auth.stats.apiOk).toBe(4_000);
  expect(reports.map((report) => report.refreshes).reduce((a, b) => a + b)).toBe(1);
  expect(await fleet.client.exists(`${key}:lock`)).toBe(0);
  console.log(
    `fleet: 8 × 500 requests, ${fleet.auth.stats.refreshCalls} rotation, ${fleet.auth.stats.api401} 401s, ` +
      `slowest process ${Math.round(Math.max(...reports.map((report) => report.ms)))} ms`,
  );
});

it('4 processes on ioredis and 4 on node-redis × 250 requests share one scope: exactly one rotation, all 2,000 succeed', async () => {
  const key = fleet.key();
  fleet.auth.knobs.refreshLatencyMs = 50;
  const names = ['i1', 'i2', 'i3', 'i4', 'n1', 'n2', 'n3', 'n4'];
  fleet.workers = await Promise.all(
    names.map((name) =>
      startWorker(
        fleet.config(key, name, { client: name.startsWith('n') ? 'node-redis' : 'ioredis' }),
      ),
    ),
  );
  await fleet.seed(key);

  const reports = await Promise.all(fleet.workers.map((worker) => worker.run()));

  expect(reports.map((report) => report.succeeded)).toEqual(names.map(() => 250));
  expect(fleet.auth.stats.refreshCalls).toBe(1);
  expect(fleet.auth.stats.familiesRevoked).toBe(0);
  expect(reports.map((report) => report.refreshes).reduce((a, b) => a + b)).toBe(1);
  expect(await fleet.client.exists(`${key}:lock`)).toBe(0);
});

it('the lock holder is SIGKILLed mid-refresh: the others take over after lockTtlMs and complete', async () => {
  const key = fleet.key();
  const lockTtlMs = 1_500;
  const { holder } = await holderMidRefresh(key, lockTtlMs);
  expect(await fleet.client.get(`${key}:lock`)).not.toBeNull();

  const others = await Promise.all(
    ['w2', 'w3'].map((name) => startWorker(fleet.config(key, name, { requests: 50, lockTtlMs }))),
  );
  fleet.workers.push(...others);
  const runs = others.map((worker) => worker.run());
  // Both wait behind the holder: their refresh started and they queue for the lock.
  await Promise.all(others.map((worker) => worker.next('refresh:start')));
  await until(async () => (await fleet.client.zcard(`${key}:queue`)) === 2, 'both are queued');
  expect(fleet.auth.stats.refreshCalls).toBe(1);

  fleet.auth.knobs.refreshHang = false;
  const killedAt = Date.now();
  await holder.kill('SIGKILL');
  const reports = await Promise.all(runs);
  const recoveryMs = Date.now() - killedAt;

  expect(reports.map((report) => report.succeeded)).toEqual([50, 50]);
  // The hung call, then exactly one more, after the holder died.
  expect(fleet.auth.stats.refreshCalls).toBe(2);
  expect(fleet.auth.stats.refreshSuccesses).toBe(1);
  expect(fleet.auth.stats.familiesRevoked).toBe(0);
  expect(reports.map((report) => report.refreshes).reduce((a, b) => a + b)).toBe(1);
  expect(fleet.auth.stats.refreshLog.find((entry) => entry.ok)!.at).toBeGreaterThanOrEqual(
    killedAt,
  );
  // Generous bound: the lock's TTL plus the waiters' refresh timeout (which they did not hit).
  expect(recoveryMs).toBeLessThan(lockTtlMs + 10_000);
  console.log(
    `fleet: holder SIGKILLed, the others completed ${recoveryMs} ms later (lockTtlMs ${lockTtlMs})`,
  );
});

it('the lock holder is stopped (SIGSTOP) past lockTtlMs mid-refresh, then resumed: its requests get the new holder tokens; one rotation (a guard: it held before fencing too, through the new holder announcement)', async () => {
  const key = fleet.key();
  const lockTtlMs = 1_000;
  const { holder, holding } = await holderMidRefresh(key, lockTtlMs);
  holder.signal('SIGSTOP');
  const stoppedAt = Date.now();
  try {
    fleet.auth.knobs.refreshHang = false;
    // The others wait for the lock; it expires lockTtlMs after the holder's last renewal.
    const others = await Promise.all(
      ['w2', 'w3'].map((name) => startWorker(fleet.config(key, name, { requests: 50, lockTtlMs }))),
    );
    fleet.workers.push(...others);
    const reports = await Promise.all(others.map((worker) => worker.run()));
    expect(reports.map((report) => report.succeeded)).toEqual([50, 50]);
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(lockTtlMs);
  } finally {
    holder.signal('SIGCONT');
  }
  // Resumed: it has heard the new holder's tokens (and its renewal finds the lock taken since:
  // LOCK_LOST); either way it ends with the tokens w2 or w3 stored, and none of its requests fails.
  const held = await holding;
  expect(held.succeeded).toBe(5);
  expect(held.errors).toEqual({});
  expect(held.refreshes).toBe(0);
  expect(fleet.auth.stats.refreshCalls).toBe(2);
  expect(fleet.auth.stats.refreshSuccesses).toBe(1);
  expect(fleet.auth.stats.familiesRevoked).toBe(0);
  console.log(
    `fleet: holder stopped ${Date.now() - stoppedAt} ms (lockTtlMs ${lockTtlMs}); after SIGCONT all of its requests succeeded with the new holder's tokens`,
  );
});
