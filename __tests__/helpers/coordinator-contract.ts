/**
 * The contract every Coordinator meets, as one suite run against each implementation (in-process,
 * browser, Redis): mutual exclusion in FIFO order, release on failure and on abort, timeouts while
 * waiting, and publish/subscribe.
 *
 * @example
 * ```ts
 * coordinatorContract('inProcessCoordinator', () => inProcessCoordinator(), {
 *   peer: (first) => first,
 * });
 * coordinatorContract('redisCoordinator', () => redisCoordinator({ client, key }), {
 *   peer: () => redisCoordinator({ client: otherClient, key }),
 *   teardown: () => client.quit(),
 * });
 * ```
 */
import type { Coordinator, Tokens } from '../../src/index.js';
import { type Deferred, deferred } from './deferred.js';

export interface CoordinatorContractOptions {
  /**
   * Another member of the same scope as `first` (another tab, another process). Contenders are
   * made through it, so exclusion is checked across members. @default the same coordinator
   */
  peer?(first: Coordinator): Coordinator | Promise<Coordinator>;
  /** Runs after each test, once every coordinator made in it was disposed of. */
  teardown?(): void | Promise<void>;
  /**
   * Lets the coordinator do what it would do on its own (deliver a message, grant a lock) before
   * the suite checks that something did *not* happen. @default a few event-loop turns
   */
  settle?(): Promise<void>;
  /** A `timeoutMs` small enough to wait out in a test. @default 30 */
  shortTimeoutMs?: number;
}

const turns = async (count: number) => {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Waits for `condition`, turning the event loop (then sleeping briefly) for up to 5 s. */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  // An upper bound for a loaded machine, not a timing assertion: most conditions hold within a few turns.
  for (let i = 0; i < 1600; i++) {
    if (condition()) return;
    await new Promise((resolve) => (i < 100 ? setImmediate(resolve) : setTimeout(resolve, 10)));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Tracks a runExclusive call: when fn entered, and how the call ended. */
interface Run<T> {
  entered: boolean;
  status: 'pending' | 'fulfilled' | 'rejected';
  value: T | undefined;
  error: unknown;
  /** Settles fn's promise (when the test made fn return `body.promise`). */
  body: Deferred<T>;
}

export function coordinatorContract(
  name: string,
  makeCoordinator: () => Coordinator | Promise<Coordinator>,
  options: CoordinatorContractOptions = {},
): void {
  const settle = options.settle ?? (() => turns(10));
  const shortTimeoutMs = options.shortTimeoutMs ?? 30;

  describe(`${name} meets the Coordinator contract`, () => {
    let made: Coordinator[] = [];
    let controllers: AbortController[] = [];

    afterEach(async () => {
      // Abort every signal, so that no lock stays held or awaited after the test.
      for (const controller of controllers) controller.abort();
      for (const coordinator of made) coordinator.dispose?.();
      made = [];
      controllers = [];
      await options.teardown?.();
    });

    async function scope(): Promise<{ first: Coordinator; peer: Coordinator }> {
      const first = await makeCoordinator();
      made.push(first);
      const peer = options.peer ? await options.peer(first) : first;
      if (peer !== first) made.push(peer);
      return { first, peer };
    }

    function signal(): AbortController {
      const controller = new AbortController();
      controllers.push(controller);
      return controller;
    }

    /** Calls runExclusive with an fn that records its entry and waits for `run.body`. */
    function run<T>(
      coordinator: Coordinator,
      opts: { signal?: AbortSignal; timeoutMs?: number } = {},
      log?: string[],
      label?: string,
    ): Run<T> {
      const tracked: Run<T> = {
        entered: false,
        status: 'pending',
        value: undefined,
        error: undefined,
        body: deferred<T>(),
      };
      coordinator
        .runExclusive(
          () => {
            tracked.entered = true;
            if (log && label) log.push(label);
            return tracked.body.promise;
          },
          { signal: opts.signal ?? signal().signal, timeoutMs: opts.timeoutMs ?? 0 },
        )
        .then(
          (value) => {
            tracked.status = 'fulfilled';
            tracked.value = value;
          },
          (error: unknown) => {
            tracked.status = 'rejected';
            tracked.error = error;
          },
        );
      return tracked;
    }

    it('runs fn and resolves with its value', async () => {
      const { first } = await scope();
      const value = await first.runExclusive(async () => 42, {
        signal: signal().signal,
        timeoutMs: 0,
      });
      expect(value).toBe(42);
    });

    it('rejects with the error fn rejects with', async () => {
      const { first } = await scope();
      const failure = new Error('refresh failed');
      await expect(
        first.runExclusive(() => Promise.reject(failure), {
          signal: signal().signal,
          timeoutMs: 0,
        }),
      ).rejects.toBe(failure);
    });

    it('runs one fn at a time, in the order they asked (FIFO)', async () => {
      const { first, peer } = await scope();
      const log: string[] = [];
      const one = run<string>(first, {}, log, 'one');
      await eventually(() => one.entered, 'the first call holds the lock');
      const two = run<string>(peer, {}, log, 'two');
      await settle();
      const three = run<string>(peer, {}, log, 'three');
      await settle();
      const four = run<string>(first, {}, log, 'four');
      await settle();
      expect(log).toEqual(['one']);

      one.body.resolve('1');
      await eventually(() => two.entered, 'the second call gets the lock');
      await settle();
      expect(log).toEqual(['one', 'two']);
      expect(one.status).toBe('fulfilled');
      expect(one.value).toBe('1');

      two.body.resolve('2');
      await eventually(() => three.entered, 'the third call gets the lock');
      await settle();
      expect(log).toEqual(['one', 'two', 'three']);

      three.body.resolve('3');
      await eventually(() => four.entered, 'the fourth call gets the lock');
      four.body.resolve('4');
      await eventually(() => four.status === 'fulfilled', 'the fourth call settles');
      expect(log).toEqual(['one', 'two', 'three', 'four']);
    });

    it('releases the lock when fn rejects', async () => {
      const { first, peer } = await scope();
      const one = run<string>(first);
      await eventually(() => one.entered, 'the first call holds the lock');
      const two = run<string>(peer);
      await settle();
      expect(two.entered).toBe(false);

      const failure = new Error('refresh failed');
      one.body.reject(failure);
      await eventually(() => two.entered, 'the second call gets the lock');
      // Across processes (a tab, Redis) the grant to the peer and the first call's rejection
      // reach this test by different routes, in either order.
      await eventually(() => one.status !== 'pending', 'the first call settles');
      expect(one.status).toBe('rejected');
      expect(one.error).toBe(failure);
      two.body.resolve('ok');
      await eventually(() => two.status === 'fulfilled', 'the second call settles');
    });

    it('releases the lock when fn throws synchronously', async () => {
      const { first, peer } = await scope();
      const failure = new Error('thrown');
      const thrown = first.runExclusive(
        () => {
          throw failure;
        },
        { signal: signal().signal, timeoutMs: 0 },
      );
      await expect(thrown).rejects.toBe(failure);
      await expect(
        peer.runExclusive(async () => 'next', { signal: signal().signal, timeoutMs: 0 }),
      ).resolves.toBe('next');
    });

    it('releases the lock when the holder aborts its signal, even if fn never settles', async () => {
      const { first, peer } = await scope();
      const holder = signal();
      const stuck = run<string>(first, { signal: holder.signal });
      await eventually(() => stuck.entered, 'the first call holds the lock');
      const next = run<string>(peer);
      await settle();
      expect(next.entered).toBe(false);

      holder.abort(new Error('refresh timed out'));
      await eventually(() => next.entered, 'the next call gets the lock');
      next.body.resolve('done');
      await eventually(() => next.status === 'fulfilled', 'the next call settles');
    });

    it('rejects a waiting call after timeoutMs without running fn, and keeps the queue going', async () => {
      const { first, peer } = await scope();
      const one = run<string>(first);
      await eventually(() => one.entered, 'the first call holds the lock');
      const late = run<string>(peer, { timeoutMs: shortTimeoutMs });
      const patient = run<string>(peer);
      await eventually(() => late.status === 'rejected', 'the timed-out call rejects');
      expect(late.error).toBeInstanceOf(Error);
      expect(late.entered).toBe(false);
      expect(one.status).toBe('pending');

      one.body.resolve('1');
      await eventually(() => patient.entered, 'the patient call gets the lock');
      await settle();
      expect(late.entered).toBe(false);
      patient.body.resolve('2');
      await eventually(() => patient.status === 'fulfilled', 'the patient call settles');
    });

    it('waits without limit when timeoutMs is 0', async () => {
      const { first, peer } = await scope();
      const one = run<string>(first);
      await eventually(() => one.entered, 'the first call holds the lock');
      const waiting = run<string>(peer, { timeoutMs: 0 });
      await new Promise((resolve) => setTimeout(resolve, shortTimeoutMs * 2));
      await settle();
      expect(waiting.status).toBe('pending');
      one.body.resolve('1');
      await eventually(() => waiting.entered, 'the waiting call gets the lock');
    });

    it('rejects with the reason of an already-aborted signal without running fn', async () => {
      const { first } = await scope();
      const reason = new Error('destroyed');
      const fn = jest.fn(async () => 'ran');
      await expect(
        first.runExclusive(fn, { signal: AbortSignal.abort(reason), timeoutMs: 0 }),
      ).rejects.toBe(reason);
      expect(fn).not.toHaveBeenCalled();
      // And the lock is free afterwards.
      await expect(
        first.runExclusive(async () => 'free', { signal: signal().signal, timeoutMs: 0 }),
      ).resolves.toBe('free');
    });

    it('rejects a waiting call whose signal aborts, without running fn or taking a turn', async () => {
      const { first, peer } = await scope();
      const one = run<string>(first);
      await eventually(() => one.entered, 'the first call holds the lock');
      const controller = signal();
      const reason = new Error('caller gave up');
      const abandoned = run<string>(peer, { signal: controller.signal });
      const next = run<string>(peer);
      await settle();

      controller.abort(reason);
      await eventually(() => abandoned.status === 'rejected', 'the abandoned call rejects');
      expect(abandoned.error).toBe(reason);
      expect(one.status).toBe('pending');

      one.body.resolve('1');
      await eventually(() => next.entered, 'the next call gets the lock');
      await settle();
      expect(abandoned.entered).toBe(false);
      next.body.resolve('2');
      await eventually(() => next.status === 'fulfilled', 'the next call settles');
    });

    it('delivers published tokens to subscribers, and stops after unsubscribe', async () => {
      const { first, peer } = await scope();
      if (!first.publish || !peer.subscribe) {
        // publish/subscribe are optional; a coordinator without them has nothing to check here.
        expect(first.publish === undefined || peer.subscribe === undefined).toBe(true);
        return;
      }
      const heard: Array<Tokens | null> = [];
      const other: Array<Tokens | null> = [];
      const unsubscribe = peer.subscribe((tokens) => heard.push(tokens));
      const unsubscribeOther = peer.subscribe((tokens) => other.push(tokens));
      await settle();

      const tokens: Tokens = {
        accessToken: 'a2',
        refreshToken: 'r2',
        expiresAt: 1_800_000_000_000,
      };
      first.publish(tokens);
      await eventually(() => heard.length === 1 && other.length === 1, 'both subscribers heard');
      expect(heard[0]).toEqual(tokens);

      first.publish(null);
      await eventually(() => heard.length === 2, 'the logout was heard');
      expect(heard[1]).toBeNull();

      unsubscribe();
      first.publish({ accessToken: 'a3' });
      await eventually(() => other.length === 3, 'the remaining subscriber heard');
      await settle();
      expect(heard).toHaveLength(2);
      expect(other[2]).toEqual({ accessToken: 'a3' });
      unsubscribeOther();
    });
  });
}
