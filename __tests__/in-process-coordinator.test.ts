import { inProcessCoordinator, isRefreshGateError } from '../src/index.js';
import { coordinatorContract } from './helpers/coordinator-contract.js';
import { deferred, flush } from './helpers/deferred.js';
import { countedController } from './helpers/gate-fixtures.js';

const flushMicrotasks = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

// Members of one in-process scope share the coordinator object itself.
coordinatorContract('inProcessCoordinator', () => inProcessCoordinator(), {
  peer: (first) => first,
});

describe('inProcessCoordinator', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('gives every call its own scope: two coordinators never wait on each other', async () => {
    const one = inProcessCoordinator();
    const two = inProcessCoordinator();
    const held = deferred<void>();
    const holding = one.runExclusive(() => held.promise, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    await expect(
      two.runExclusive(async () => 'free', { signal: new AbortController().signal, timeoutMs: 0 }),
    ).resolves.toBe('free');
    held.resolve();
    await holding;
  });

  /** A coordinator whose lock is held until `release()`. */
  function held() {
    const coordinator = inProcessCoordinator();
    const body = deferred<void>();
    const holding = coordinator.runExclusive(() => body.promise, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    return {
      coordinator,
      release: async () => {
        body.resolve();
        await holding;
      },
    };
  }

  it('runs a waiting call that gets the lock just before its timeoutMs, clearing its timer', async () => {
    jest.useFakeTimers();
    const { coordinator, release } = held();
    const waiting = coordinator.runExclusive(async () => 'in time', {
      signal: new AbortController().signal,
      timeoutMs: 5_000,
    });
    await Promise.resolve();
    expect(jest.getTimerCount()).toBe(1);

    jest.advanceTimersByTime(4_999);
    await release();
    await expect(waiting).resolves.toBe('in time');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('times a waiting call out with REFRESH_TIMEOUT on the injected clock, leaving no timer', async () => {
    jest.useFakeTimers();
    const { coordinator, release } = held();
    const fn = jest.fn(async () => 'late');
    const rejection = coordinator
      .runExclusive(fn, { signal: new AbortController().signal, timeoutMs: 5_000 })
      .catch((error: unknown) => error);
    await Promise.resolve();

    jest.advanceTimersByTime(5_000);
    const error = await rejection;
    expect(isRefreshGateError(error) && error.code).toBe('REFRESH_TIMEOUT');
    expect((error as Error).message).toContain('5000 ms');
    expect(jest.getTimerCount()).toBe(0);

    await release();
    await flushMicrotasks();
    expect(fn).not.toHaveBeenCalled();
  });

  it('removes the abort listeners it adds once a call is over', async () => {
    const coordinator = inProcessCoordinator();
    const holder = countedController();
    const waiter = countedController();
    const held = deferred<void>();
    const holding = coordinator.runExclusive(() => held.promise, {
      signal: holder.signal,
      timeoutMs: 0,
    });
    const waiting = coordinator.runExclusive(async () => 'ok', {
      signal: waiter.signal,
      timeoutMs: 0,
    });
    await flush();
    expect(holder.listeners()).toBe(1);
    expect(waiter.listeners()).toBe(1);

    held.resolve();
    await holding;
    await waiting;
    expect(holder.listeners()).toBe(0);
    expect(waiter.listeners()).toBe(0);
  });

  it('drops a waiter whose signal aborts, leaving no listener on its signal', async () => {
    const coordinator = inProcessCoordinator();
    const held = deferred<void>();
    const holding = coordinator.runExclusive(() => held.promise, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    const waiter = countedController();
    const waiting = coordinator
      .runExclusive(async () => 'never', { signal: waiter.signal, timeoutMs: 1_000 })
      .catch((error: unknown) => error);
    await flush();
    waiter.controller.abort('gone');
    expect(await waiting).toBe('gone');
    expect(waiter.listeners()).toBe(0);
    held.resolve();
    await holding;
  });

  it('tells a publisher its own tokens (gates sharing it hear each other) and forgets all on dispose', () => {
    const coordinator = inProcessCoordinator();
    const heard = jest.fn();
    coordinator.subscribe!(heard);
    coordinator.publish!({ accessToken: 'a' });
    expect(heard).toHaveBeenCalledWith({ accessToken: 'a' });

    coordinator.dispose!();
    coordinator.publish!({ accessToken: 'b' });
    expect(heard).toHaveBeenCalledTimes(1);
  });

  it('lets a subscriber unsubscribe while a publish is being delivered', () => {
    const coordinator = inProcessCoordinator();
    const calls: string[] = [];
    const unsubscribeSecond = { fn: () => {} };
    coordinator.subscribe!(() => {
      calls.push('first');
      unsubscribeSecond.fn();
    });
    unsubscribeSecond.fn = coordinator.subscribe!(() => calls.push('second'));
    coordinator.publish!(null);
    coordinator.publish!(null);
    expect(calls).toEqual(['first', 'second', 'first']);
  });
});
