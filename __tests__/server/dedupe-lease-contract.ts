/**
 * The deduper's leases, as one contract run against each store: the memory store under jest's
 * fake timers (`wait` advances them) and the Redis store against a real redis-server (`wait`
 * sleeps). Every scenario is written so that its outcome does not depend on how late a timer
 * fires: margins of 100 ms and more, and `until` (bounded) where a wait's end is what matters.
 *
 * Each "instance" is a deduper on its own handle of one shared store, as two pods of an auth
 * service sharing one Redis are.
 */
import { createHash } from 'node:crypto';
import {
  type DedupeStore,
  isRefreshDedupeError,
  RefreshDedupeError,
  type RefreshDeduper,
  type RefreshDeduperOptions,
} from '../../src/server/index.js';
import { deferred } from '../helpers/deferred.js';

export interface LeaseHarness {
  /** One server instance: a deduper on its own handle of the shared store. */
  instance(options: Omit<RefreshDeduperOptions, 'store'>): RefreshDeduper;
  /** A handle of the shared store, for checks at the store's level. */
  store(): DedupeStore;
  /** Lets `ms` pass. */
  wait(ms: number): Promise<void>;
  /**
   * Ends the lease of `hash` from outside, before its next renewal: the process paused past it
   * (memory store: the clock jumps, no timer runs), or its key deleted (Redis).
   */
  loseLease(hash: string): Promise<void>;
  /** Where it applies: how long the shared store keeps the entry of `hash`, in ms. */
  ttl?(hash: string): Promise<number>;
}

/** A promise's outcome, read without awaiting it (so a call that never settles fails, not hangs). */
export interface Tracked<T> {
  settled: boolean;
  value?: T;
  error?: unknown;
}

export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { settled: false };
  promise.then(
    (value) => {
      tracked.settled = true;
      tracked.value = value;
    },
    (error: unknown) => {
      tracked.settled = true;
      tracked.error = error;
    },
  );
  return tracked;
}

/** Waits in 5 ms steps until `done()` holds, at most `withinMs`; the expectations after it tell. */
export async function until(h: LeaseHarness, done: () => boolean, withinMs = 3_000) {
  for (let waited = 0; !done() && waited < withinMs; waited += 5) await h.wait(5);
}

const sha256Like = (name: string) => name.padEnd(64, '0');
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

export function leaseContract(name: string, make: () => LeaseHarness) {
  describe(`leases (${name})`, () => {
    let h: LeaseHarness;
    beforeEach(() => {
      h = make();
    });

    it('a rotation slower than waitTimeoutMs keeps its lease: a waiter on another instance gets 429 at its own waitTimeoutMs and never rotates again', async () => {
      const options = { leaseMs: 300, waitTimeoutMs: 500, maxRotationMs: 3_000 };
      const [a, b] = [h.instance(options), h.instance(options)];
      const slow = deferred<string>();
      const rotateA = jest.fn(() => slow.promise);
      const rotateB = jest.fn(async () => 'second rotation');
      const first = track(a.dedupe('r1', rotateA));
      await until(h, () => rotateA.mock.calls.length > 0);
      await h.wait(100);

      // Its deadline falls after the claim's first lease (300 ms) ran out: renewed, it still holds.
      const waiting = track(b.dedupe('r1', rotateB));
      await until(h, () => waiting.settled);
      expect(rotateB).not.toHaveBeenCalled();
      expect(waiting.error).toBeInstanceOf(RefreshDedupeError);
      expect(waiting.error).toMatchObject({
        status: 429,
        message:
          'a refresh with this refresh token is still running after 500 ms (waitTimeoutMs); retry shortly',
      });
      expect(first.settled).toBe(false);

      // A later call on the other instance waits for the same rotation, and gets its result.
      const late = track(b.dedupe('r1', rotateB));
      await h.wait(100);
      slow.resolve('pair');
      await until(h, () => first.settled && late.settled);
      expect(first.value).toBe('pair');
      expect(late.value).toBe('pair');
      expect(rotateA).toHaveBeenCalledTimes(1);
      expect(rotateB).not.toHaveBeenCalled();
    });

    it('a rotate that never settles ends at maxRotationMs: its callers get 429, the key is freed on every instance, and its late result is never served', async () => {
      const options = { leaseMs: 300, waitTimeoutMs: 500, maxRotationMs: 1_200 };
      const [a, b] = [h.instance(options), h.instance(options)];
      const hung = deferred<string>();
      let signal: AbortSignal | undefined;
      const rotateA = jest.fn((given: AbortSignal) => {
        signal = given;
        return hung.promise;
      });
      const rotateB = jest.fn(async () => 'second rotation');
      const first = track(a.dedupe('r1', rotateA));
      await until(h, () => rotateA.mock.calls.length > 0);
      await h.wait(100);
      const there = track(b.dedupe('r1', rotateB));
      const here = track(a.dedupe('r1', rotateA));
      await until(h, () => there.settled && here.settled);
      for (const waiter of [there, here]) {
        expect(isRefreshDedupeError(waiter.error)).toBe(true);
        expect((waiter.error as Error).message).toMatch(/still running after 500 ms/);
      }
      expect(rotateB).not.toHaveBeenCalled();
      expect(first.settled).toBe(false);
      expect(signal?.aborted).toBe(false);

      await until(h, () => first.settled);
      expect(first.error).toBeInstanceOf(RefreshDedupeError);
      expect(first.error).toMatchObject({
        status: 429,
        statusCode: 429,
        code: 'DEDUPE_TIMEOUT',
        message:
          'a refresh with this refresh token did not settle within 1200 ms (maxRotationMs); retry shortly',
      });
      // rotate is told, with the error its callers got.
      expect(signal?.aborted).toBe(true);
      expect(signal?.reason).toBe(first.error);

      // The key is free again, in the process that ran the hung rotation as in the other one.
      const again = track(a.dedupe('r1', async () => 'fresh'));
      await until(h, () => again.settled);
      expect(again.value).toBe('fresh');

      // The abandoned rotation settles late: its result is neither served nor kept.
      hung.resolve('stale');
      await h.wait(50);
      const later = track(b.dedupe('r1', rotateB));
      await until(h, () => later.settled);
      expect(later.value).toBe('fresh');
      expect(rotateA).toHaveBeenCalledTimes(1);
      expect(rotateB).not.toHaveBeenCalled();
    });

    it('a late result of a claim whose lease ran out, or that was abandoned, is not kept', async () => {
      const store = h.store();
      const hash = sha256Like('late');
      const first = await store.claim(hash, 300);
      if (first.state !== 'claimed') throw new Error(`expected a claim, got ${first.state}`);
      await h.wait(400);
      // Its lease ran out (nobody claimed since): its fulfil must fail, the key can be claimed.
      await store.fulfil(hash, first.token, 'late', 30_000);
      await expect(store.claim(hash, 300)).resolves.toMatchObject({ state: 'claimed' });

      const other = sha256Like('abandoned');
      const second = await store.claim(other, 300);
      if (second.state !== 'claimed') throw new Error(`expected a claim, got ${second.state}`);
      await store.abandon(other, second.token);
      await store.fulfil(other, second.token, 'late', 30_000);
      await expect(store.claim(other, 300)).resolves.toMatchObject({ state: 'claimed' });
    });

    it("renew, fulfil and abandon are fenced by the claim's token", async () => {
      const store = h.store();
      const hash = sha256Like('lease');
      const first = await store.claim(hash, 300);
      if (first.state !== 'claimed') throw new Error(`expected a claim, got ${first.state}`);
      await expect(store.renew(hash, 'not-the-token', 300)).resolves.toBe(false);
      await h.wait(200);
      await expect(store.renew(hash, first.token, 300)).resolves.toBe(true);
      await h.wait(200);
      // 400 ms after a 300 ms claim: held because it was renewed.
      await expect(store.claim(hash, 300)).resolves.toEqual({ state: 'busy' });

      await h.wait(400);
      const second = await store.claim(hash, 300);
      if (second.state !== 'claimed') throw new Error(`expected a claim, got ${second.state}`);
      // The first claim's token no longer holds: it renews, stores and drops nothing.
      await expect(store.renew(hash, first.token, 300)).resolves.toBe(false);
      await store.fulfil(hash, first.token, 'stale', 30_000);
      await store.abandon(hash, first.token);
      await expect(store.claim(hash, 300)).resolves.toEqual({ state: 'busy' });
      await store.fulfil(hash, second.token, 'fresh', 30_000);
      await expect(store.claim(hash, 300)).resolves.toEqual({ state: 'done', value: 'fresh' });
    });

    it('a rotation whose claim is lost and taken over by another caller is given up: its result is neither served nor kept', async () => {
      const options = { leaseMs: 300, waitTimeoutMs: 500, maxRotationMs: 3_000 };
      const a = h.instance(options);
      const store = h.store();
      const slow = deferred<string>();
      let signal: AbortSignal | undefined;
      const rotateA = jest.fn((given: AbortSignal) => {
        signal = given;
        return slow.promise;
      });
      const first = track(a.dedupe('r1', rotateA));
      await until(h, () => rotateA.mock.calls.length > 0);
      const hash = sha256('r1');
      await h.loseLease(hash);
      const other = await store.claim(hash, 5_000);
      expect(other.state).toBe('claimed');
      await until(h, () => first.settled, 1_000);
      expect(first.error).toMatchObject({
        status: 429,
        message:
          'a refresh with this refresh token did not keep its lease of 300 ms (leaseMs); retry shortly',
      });
      expect(signal?.aborted).toBe(true);
      slow.resolve('unfenced');
      await h.wait(50);
      // The other caller's claim stands: neither renewed nor overwritten by the lost rotation.
      await expect(store.claim(hash, 300)).resolves.toEqual({ state: 'busy' });
      if (h.ttl) expect(await h.ttl(hash)).toBeGreaterThan(1_000);
    });
  });
}
