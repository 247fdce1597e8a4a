import type { InternalAxiosRequestConfig } from 'axios';
import { AxiosHeaders, isCancel } from 'axios';
import { systemClock } from '../src/clock';
import { isRefreshGateError } from '../src/errors';
import { type Resumer, WaiterQueue } from '../src/waiter-queue';

/*
 * A held request is a thenable the axios chain adopts (src/waiter-queue.ts, Held), resumed for
 * all of a queue's requests in one job after the queue settled. These pin what a promise would
 * have given: it settles once, never inside the call that settled the queue, a `then` after its
 * end still hears of it, and one request's resumer throwing rejects that request alone.
 */

const configFor = (name: string, signal?: AbortSignal): InternalAxiosRequestConfig =>
  ({ url: `/${name}`, headers: new AxiosHeaders(), signal }) as InternalAxiosRequestConfig;

const queue = (timeoutMs = 0) =>
  new WaiterQueue<string>(systemClock, timeoutMs, 'a token refresh', new WeakSet(), () => {});

/** Resumes with `config.url + value`; a config whose url is /bad throws. */
const resumer = (log: string[]): Resumer<string> => ({
  resumed(config, value) {
    log.push(`resumed ${config.url} ${value}`);
    if (config.url === '/bad') throw new Error('resume failed');
    return `${config.url} ${value}`;
  },
  failed(config, error) {
    log.push(`failed ${config.url}`);
    if ((error as Error).message === 'no session') return `${config.url} as it is`;
    throw error;
  },
});

describe('a held request (WaiterQueue.hold)', () => {
  it('resumes after the call that settled its queue, each request with its own answer', async () => {
    const log: string[] = [];
    const waiters = queue();
    const a = waiters.hold(configFor('a'), resumer(log));
    const b = waiters.hold(configFor('b'), resumer(log));
    const bad = waiters.hold(configFor('bad'), resumer(log));
    const answers = Promise.allSettled([a, b, bad].map((held) => Promise.resolve(held)));
    expect(waiters.size).toBe(3);
    waiters.resolveAll('t1');
    log.push('resolveAll returned');
    expect(waiters.size).toBe(0);
    const [first, second, third] = await answers;
    expect(log[0]).toBe('resolveAll returned');
    expect(first).toEqual({ status: 'fulfilled', value: '/a t1' });
    expect(second).toEqual({ status: 'fulfilled', value: '/b t1' });
    expect(third).toMatchObject({ status: 'rejected', reason: { message: 'resume failed' } });
  });

  it("takes its resumer's answer to a failure: an error, or a config to send after all", async () => {
    const log: string[] = [];
    const failing = queue();
    const failed = Promise.resolve(failing.hold(configFor('a'), resumer(log)));
    failing.rejectAll(new Error('refresh failed'));
    await expect(failed).rejects.toThrow('refresh failed');

    const noSession = queue();
    const sent = Promise.resolve(noSession.hold(configFor('a'), resumer(log)));
    noSession.rejectAll(new Error('no session'));
    await expect(sent).resolves.toBe('/a as it is');
  });

  it('rejects at once with a signal already aborted, and is heard by a later then', async () => {
    const controller = new AbortController();
    controller.abort();
    const waiters = queue();
    const held = waiters.hold(configFor('a', controller.signal), resumer([]));
    expect(waiters.size).toBe(0);
    // Nothing adopted it yet: an await afterwards still hears the cancel, in a later job.
    const reasons: unknown[] = [];
    held.then(undefined, (reason) => reasons.push(reason));
    expect(reasons).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(reasons).toHaveLength(1);
    expect(isCancel(reasons[0])).toBe(true);
  });

  it('settles once: an abort after the queue settled it changes nothing', async () => {
    const controller = new AbortController();
    const waiters = queue();
    const held = waiters.hold(configFor('a', controller.signal), resumer([]));
    const values: unknown[] = [];
    const errors: unknown[] = [];
    held.then(
      (value) => values.push(value),
      (error) => errors.push(error),
    );
    waiters.resolveAll('t1');
    controller.abort();
    waiters.rejectAll(new Error('late'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(values).toEqual(['/a t1']);
    expect(errors).toEqual([]);
  });

  it('calls every then it was given, in order', async () => {
    const waiters = queue();
    const held = waiters.hold(configFor('a'), resumer([]));
    const calls: string[] = [];
    held.then((value) => calls.push(`first ${value}`));
    held.then((value) => calls.push(`second ${value}`));
    waiters.resolveAll('t1');
    await new Promise((resolve) => setImmediate(resolve));
    held.then((value) => calls.push(`after ${value}`));
    expect(calls).toEqual(['first /a t1', 'second /a t1']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual(['first /a t1', 'second /a t1', 'after /a t1']);
  });

  it("gives up at the queue's deadline with QUEUE_TIMEOUT", async () => {
    jest.useFakeTimers();
    try {
      const waiters = queue(50);
      const held = Promise.resolve(waiters.hold(configFor('a'), resumer([])));
      const outcome = held.then(
        () => 'sent',
        (error: unknown) => (isRefreshGateError(error) ? error.code : 'other'),
      );
      await jest.advanceTimersByTimeAsync(60);
      await expect(outcome).resolves.toBe('QUEUE_TIMEOUT');
      expect(waiters.size).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
