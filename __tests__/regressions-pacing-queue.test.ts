/**
 * Regression, from an adversarial review of the pacing (each failed before its fix): an IPv6 host
 * whose queue name another host's begins with, and the cost of polling a stuck pool (the list
 * copied every millisecond; the early exit lost once a pool was released in full).
 */
import type { InternalAxiosRequestConfig } from 'axios';
import { AxiosHeaders } from 'axios';
import type { Clock } from '../src/clock';
import { WaiterQueue } from '../src/waiter-queue';

function manualClock() {
  let now = 0;
  const timers = new Map<number, { at: number; cb: () => void }>();
  let id = 0;
  const clock: Clock = {
    now: () => now,
    elapsed: () => now,
    setTimeout: (cb, ms) => {
      timers.set(++id, { at: now + ms, cb });
      return id;
    },
    clearTimeout: (h) => void timers.delete(h as number),
  };
  const tick = (ms = 1) => {
    now += ms;
    for (const [k, t] of [...timers])
      if (t.at <= now) {
        timers.delete(k);
        t.cb();
      }
  };
  return { clock, tick, timers };
}
const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};
const cfg = (url: string, agent: object) =>
  ({ url, headers: new AxiosHeaders(), httpAgent: agent }) as unknown as InternalAxiosRequestConfig;

test('IPv6: a stuck queue of [::1:80]:80 holds requests bound for [::1]:80', async () => {
  const { clock, tick } = manualClock();
  const q = new WaiterQueue<string>(clock, 0, 'the refresh', new WeakSet(), () => {});
  // Node's Agent#getName for host ::1:80 port 80 is '::1:80:80:'; it is stuck.
  const agent = {
    maxSockets: 1,
    requests: { '::1:80:80:': new Array(10).fill(0) } as Record<string, unknown[]>,
  };
  const resumed: string[] = [];
  const resumer = {
    resumed: (c: InternalAxiosRequestConfig) => {
      resumed.push(String(c.url));
      return c;
    },
    failed: (_c: unknown, e: unknown) => {
      throw e;
    },
  };
  for (let i = 0; i < 3; i++) q.hold(cfg(`http://[::1]:80/r${i}`, agent), resumer);
  q.resolveAll('t');
  await flush();
  for (let i = 0; i < 20; i++) tick();
  await flush();
  // [::1]:80 has nothing queued: all three should be out.
  expect(resumed).toHaveLength(3);
});

test('stuck pool: each 1 ms poll copies the whole paced list although nothing is released', async () => {
  const { clock, tick } = manualClock();
  const q = new WaiterQueue<string>(clock, 0, 'the refresh', new WeakSet(), () => {});
  const agent = {
    maxSockets: 1,
    requests: { 'api.test:80:': new Array(10).fill(0) } as Record<string, unknown[]>,
  };
  const resumer = {
    resumed: (c: InternalAxiosRequestConfig) => c,
    failed: (_c: unknown, e: unknown) => {
      throw e;
    },
  };
  const n = 20_000;
  for (let i = 0; i < n; i++) q.hold(cfg(`http://api.test/r${i}`, agent), resumer);
  q.resolveAll('t');
  await flush();
  let copied = 0;
  const slice = Array.prototype.slice;
  const concat = Array.prototype.concat;
  const s = jest.spyOn(Array.prototype, 'slice').mockImplementation(function (
    this: unknown[],
    ...a: unknown[]
  ) {
    const r = slice.apply(this, a as []);
    copied += r.length;
    return r;
  });
  const c = jest.spyOn(Array.prototype, 'concat').mockImplementation(function (
    this: unknown[],
    ...a: unknown[]
  ) {
    const r = concat.apply(this, a as []);
    copied += r.length;
    return r;
  });
  for (let i = 0; i < 10; i++) tick();
  s.mockRestore();
  c.mockRestore();
  // "the others keep their place, unread": nothing released, nothing to copy.
  expect(copied).toBeLessThan(n);
});

test('a pool released in full: the early exit never fires (whole list scanned every poll)', async () => {
  const { clock, tick } = manualClock();
  const q = new WaiterQueue<string>(clock, 0, 'the refresh', new WeakSet(), () => {});
  const stuck = {
    maxSockets: 1,
    requests: { 'b.test:80:': new Array(10).fill(0) } as Record<string, unknown[]>,
  };
  const other = { maxSockets: 1, requests: { 'a.test:80:': [] } as Record<string, unknown[]> };
  const resumer = {
    resumed: (c: InternalAxiosRequestConfig) => c,
    failed: (_c: unknown, e: unknown) => {
      throw e;
    },
  };
  const ac = new AbortController();
  const a = q.hold(
    { ...cfg('http://a.test/x', other), signal: ac.signal } as InternalAxiosRequestConfig,
    resumer,
  );
  (a as unknown as PromiseLike<unknown>).then(
    () => {},
    () => {},
  );
  const n = 5000;
  const configs: InternalAxiosRequestConfig[] = [];
  for (let i = 0; i < n; i++) {
    const k = cfg(`http://b.test/r${i}`, stuck);
    configs.push(k);
    q.hold(k, resumer);
  }
  q.resolveAll('t');
  await flush();
  // count reads of waiter entries' pools: use a getter on the agent's maxSockets (read once per entry scanned)
  let reads = 0;
  Object.defineProperty(stuck, 'maxSockets', {
    get: () => {
      reads++;
      return 1;
    },
  });
  tick();
  expect(reads).toBeLessThan(10);
});
