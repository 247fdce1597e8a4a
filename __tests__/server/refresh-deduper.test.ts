import { createHash } from 'node:crypto';
import { isRefreshGateError, RefreshGateError } from '../../src/index.js';
import {
  createRefreshDeduper,
  type DedupeStore,
  isRefreshDedupeError,
  memoryDedupeStore,
  RefreshDedupeError,
  type RefreshDeduperOptions,
} from '../../src/server/index.js';
import { deferred, flush } from '../helpers/deferred.js';
import { track } from './dedupe-lease-contract.js';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

afterEach(() => {
  jest.useRealTimers();
});

describe('createRefreshDeduper', () => {
  it('runs rotate once for 50 concurrent calls with the same key and gives all of them its result', async () => {
    const deduper = createRefreshDeduper();
    const rotation = deferred<{ accessToken: string }>();
    const rotate = jest.fn(() => rotation.promise);
    const calls = Array.from({ length: 50 }, () => deduper.dedupe('r1', rotate));
    await flush();
    expect(rotate).toHaveBeenCalledTimes(1);
    const pair = { accessToken: 'a2' };
    rotation.resolve(pair);
    const results = await Promise.all(calls);
    expect(results.every((result) => result === pair)).toBe(true);
    deduper.dispose();
  });

  it('keeps different keys apart', async () => {
    const deduper = createRefreshDeduper();
    const rotate = jest.fn(async () => Math.random());
    const [one, two] = await Promise.all([
      deduper.dedupe('r1', rotate),
      deduper.dedupe('r2', rotate),
    ]);
    expect(rotate).toHaveBeenCalledTimes(2);
    expect(one).not.toBe(two);
    deduper.dispose();
  });

  it('serves the result to calls within graceMs after it settled, and rotates again after', async () => {
    jest.useFakeTimers();
    const deduper = createRefreshDeduper({ graceMs: 30_000 });
    let n = 0;
    const rotate = jest.fn(async () => ({ accessToken: `a${++n}` }));
    const first = await deduper.dedupe('r1', rotate);

    await jest.advanceTimersByTimeAsync(29_999);
    await expect(deduper.dedupe('r1', rotate)).resolves.toBe(first);
    expect(rotate).toHaveBeenCalledTimes(1);

    await jest.advanceTimersByTimeAsync(1);
    await expect(deduper.dedupe('r1', rotate)).resolves.toEqual({ accessToken: 'a2' });
    expect(rotate).toHaveBeenCalledTimes(2);
    deduper.dispose();
  });

  it('shares a failure with the calls waiting on it, never keeps it: the next call rotates again', async () => {
    const deduper = createRefreshDeduper();
    const rotation = deferred<string>();
    const rotate = jest.fn(() => rotation.promise);
    const calls = Array.from({ length: 5 }, () =>
      deduper.dedupe('r1', rotate).catch((error: unknown) => error),
    );
    await flush();
    const failure = new Error('database down');
    rotation.reject(failure);
    const errors = await Promise.all(calls);
    expect(errors.every((error) => error === failure)).toBe(true);

    await expect(deduper.dedupe('r1', async () => 'recovered')).resolves.toBe('recovered');
    expect(rotate).toHaveBeenCalledTimes(1);
    deduper.dispose();
  });

  it('rejects a call that waited past waitTimeoutMs with a 429 error; the rotation goes on for the others', async () => {
    jest.useFakeTimers();
    const deduper = createRefreshDeduper({ waitTimeoutMs: 10_000 });
    const rotation = deferred<string>();
    const first = deduper.dedupe('r1', () => rotation.promise);
    await jest.advanceTimersByTimeAsync(4_000);
    const late = deduper.dedupe('r1', async () => 'never').catch((error: unknown) => error);

    await jest.advanceTimersByTimeAsync(9_999);
    const patient = deduper.dedupe('r1', async () => 'never');
    await jest.advanceTimersByTimeAsync(1);
    const error = await late;
    expect(error).toBeInstanceOf(RefreshDedupeError);
    expect(isRefreshDedupeError(error)).toBe(true);
    expect(error).toMatchObject({ status: 429, statusCode: 429, code: 'DEDUPE_TIMEOUT' });
    expect((error as Error).message).toBe(
      'a refresh with this refresh token is still running after 10000 ms (waitTimeoutMs); retry shortly',
    );

    rotation.resolve('pair');
    await expect(first).resolves.toBe('pair');
    await expect(patient).resolves.toBe('pair');
    expect(jest.getTimerCount()).toBe(1); // the store's sweeper, for the kept result
    deduper.dispose();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('bounds a rotate that never settles by maxRotationMs (3 * leaseMs by default, leaseMs = waitTimeoutMs): the key is free again', async () => {
    jest.useFakeTimers();
    const deduper = createRefreshDeduper({ waitTimeoutMs: 2_000 });
    const hung = jest.fn(() => new Promise<string>(() => {}));
    const first = track(deduper.dedupe('r1', hung));
    await jest.advanceTimersByTimeAsync(5_999);
    expect(first.settled).toBe(false);
    const joined = track(deduper.dedupe('r1', hung));
    await jest.advanceTimersByTimeAsync(1);
    expect(first.settled).toBe(true);
    expect(first.error).toBeInstanceOf(RefreshDedupeError);
    expect((first.error as Error).message).toBe(
      'a refresh with this refresh token did not settle within 6000 ms (maxRotationMs); retry shortly',
    );
    // Every waiter of the given-up rotation rejects with the same error object.
    expect(joined.error).toBe(first.error);
    const fresh = track(deduper.dedupe('r1', async () => 'fresh'));
    await jest.advanceTimersByTimeAsync(0);
    expect(fresh.value).toBe('fresh');
    expect(hung).toHaveBeenCalledTimes(1);
    deduper.dispose();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps only the SHA-256 of the key', async () => {
    const seen: string[] = [];
    const inner = memoryDedupeStore();
    const store: DedupeStore = {
      claim: (hash, leaseMs) => {
        seen.push(hash);
        return inner.claim(hash, leaseMs);
      },
      fulfil: (hash, token, value, graceMs) => {
        seen.push(hash);
        return inner.fulfil(hash, token, value, graceMs);
      },
      renew: (hash, token, leaseMs) => {
        seen.push(hash);
        return inner.renew(hash, token, leaseMs);
      },
      abandon: (hash, token) => inner.abandon(hash, token),
      watch: (hash, onChange) => inner.watch(hash, onChange),
    };
    const deduper = createRefreshDeduper({ store });
    await deduper.dedupe('secret-refresh-token', async () => 'pair');
    expect(seen).toEqual([sha256('secret-refresh-token'), sha256('secret-refresh-token')]);
    expect(seen.join()).not.toContain('secret-refresh-token');
    deduper.dispose();
  });

  it('waits for a rotation that another instance claimed, and takes the result it stores', async () => {
    const store = memoryDedupeStore();
    const here = createRefreshDeduper({ store });
    const there = createRefreshDeduper({ store });
    const rotation = deferred<string>();
    const rotateThere = jest.fn(() => rotation.promise);
    const rotateHere = jest.fn(async () => 'duplicate');
    const first = there.dedupe('r1', rotateThere);
    await flush();
    const second = here.dedupe('r1', rotateHere);
    await flush();
    rotation.resolve('pair');
    await expect(first).resolves.toBe('pair');
    await expect(second).resolves.toBe('pair');
    expect(rotateHere).not.toHaveBeenCalled();

    // After a failure over there, the waiter here claims and rotates itself.
    const failing = deferred<string>();
    const third = there.dedupe('r2', () => failing.promise).catch((error: unknown) => error);
    await flush();
    const fourth = here.dedupe('r2', async () => 'retried here');
    await flush();
    failing.reject(new Error('boom'));
    expect(await third).toMatchObject({ message: 'boom' });
    await expect(fourth).resolves.toBe('retried here');
    here.dispose();
    there.dispose();
  });

  it('takes options left undefined as not given', async () => {
    const unset = undefined;
    const options: { readonly [K in keyof RefreshDeduperOptions]-?: RefreshDeduperOptions[K] } = {
      graceMs: unset,
      waitTimeoutMs: unset,
      leaseMs: unset,
      maxRotationMs: unset,
      store: unset,
    };
    const deduper = createRefreshDeduper(options);
    const rotate = jest.fn(async () => 'pair');
    await expect(deduper.dedupe('r1', rotate)).resolves.toBe('pair');
    // Within the default graceMs, the same result without a second rotation.
    await expect(deduper.dedupe('r1', rotate)).resolves.toBe('pair');
    expect(rotate).toHaveBeenCalledTimes(1);
    deduper.dispose();
  });

  it('rejects bad options with INVALID_OPTIONS naming the option', () => {
    const code = (make: () => unknown) => {
      try {
        make();
      } catch (error) {
        expect(error).toBeInstanceOf(RefreshGateError);
        return isRefreshGateError(error) ? [error.code, error.message] : error;
      }
      throw new Error('expected it to throw');
    };
    expect(code(() => createRefreshDeduper({ graceMs: -1 }))).toEqual([
      'INVALID_OPTIONS',
      'Expected `graceMs` to be a finite number >= 0, got `-1` (number)',
    ]);
    expect(code(() => createRefreshDeduper({ waitTimeoutMs: Number.NaN }))).toEqual([
      'INVALID_OPTIONS',
      'Expected `waitTimeoutMs` to be a finite number >= 0, got `NaN` (number)',
    ]);
    expect(code(() => createRefreshDeduper({ graceMs: '30s' as unknown as number }))).toEqual([
      'INVALID_OPTIONS',
      'Expected `graceMs` to be a finite number >= 0, got `"30s"` (string)',
    ]);
    expect(code(() => createRefreshDeduper(null as unknown as RefreshDeduperOptions))).toEqual([
      'INVALID_OPTIONS',
      'Expected `options` to be an object { graceMs?, waitTimeoutMs?, leaseMs?, maxRotationMs?, store? }, got `null` (null)',
    ]);
    expect(code(() => createRefreshDeduper({ leaseMs: 0 }))).toEqual([
      'INVALID_OPTIONS',
      'Expected `leaseMs` to be a finite number >= 1, got `0` (number)',
    ]);
    expect(code(() => createRefreshDeduper({ maxRotationMs: Number.POSITIVE_INFINITY }))).toEqual([
      'INVALID_OPTIONS',
      'Expected `maxRotationMs` to be a finite number >= 1, got `Infinity` (number)',
    ]);
    // A store that cannot renew a claim cannot keep a slow rotation's lease.
    const { renew: _renew, ...withoutRenew } = memoryDedupeStore();
    for (const store of [{}, 'redis', { ...memoryDedupeStore(), watch: 1 }, withoutRenew]) {
      expect(code(() => createRefreshDeduper({ store: store as unknown as DedupeStore }))).toEqual([
        'INVALID_OPTIONS',
        expect.stringMatching(/^Expected `store` to be a DedupeStore/),
      ]);
    }
  });

  it('rejects bad arguments with INVALID_OPTIONS, never showing the key', async () => {
    const deduper = createRefreshDeduper();
    await expect(deduper.dedupe('', async () => 1)).rejects.toMatchObject({
      name: 'RefreshGateError',
      code: 'INVALID_OPTIONS',
      message: 'Expected `key` to be a non-empty string, got `""` (string)',
    });
    await expect(
      deduper.dedupe({ token: 'r-secret' } as unknown as string, async () => 1),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: 'Expected `key` to be a non-empty string, got `...` (object)',
    });
    await expect(
      deduper.dedupe('k', 'nope' as unknown as () => Promise<number>),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringContaining('`rotate`'),
    });
    deduper.dispose();
  });

  it('dispose() settles the calls in flight with DESTROYED, aborts rotate, drops the claim and leaves no timer', async () => {
    jest.useFakeTimers();
    const inner = memoryDedupeStore();
    const store: DedupeStore = { ...inner, dispose: () => {} };
    const deduper = createRefreshDeduper({ store, waitTimeoutMs: 1_000 });
    const other = createRefreshDeduper({ store, waitTimeoutMs: 1_000 });
    const rotation = deferred<string>();
    let signal: AbortSignal | undefined;
    const first = track(
      deduper.dedupe('r1', (given) => {
        signal = given;
        return rotation.promise;
      }),
    );
    await jest.advanceTimersByTimeAsync(0);
    const joined = track(deduper.dedupe('r1', async () => 'never'));
    const waiting = track(other.dedupe('r1', async () => 'rotated over there'));
    await jest.advanceTimersByTimeAsync(10);

    deduper.dispose();
    await jest.advanceTimersByTimeAsync(0);
    expect(first.error).toMatchObject({ name: 'RefreshGateError', code: 'DESTROYED' });
    expect(joined.error).toBe(first.error);
    expect(signal?.aborted).toBe(true);
    // Its claim is dropped: the other instance's waiter claims and rotates.
    await jest.advanceTimersByTimeAsync(10);
    expect(waiting.value).toBe('rotated over there');
    rotation.resolve('late');
    await jest.advanceTimersByTimeAsync(0);
    other.dispose();
    inner.dispose();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects a call after dispose() with DESTROYED, without running rotate', async () => {
    const deduper = createRefreshDeduper();
    deduper.dispose();
    const rotate = jest.fn(async () => 1);
    const error = await deduper.dedupe('k', rotate).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(RefreshGateError);
    expect(isRefreshGateError(error) && error.code).toBe('DESTROYED');
    expect((error as Error).message).toMatch(/disposed/);
    expect(rotate).not.toHaveBeenCalled();
  });
});

describe('memoryDedupeStore', () => {
  it('sweeps expired entries with an unref-ed timer that stops once it is empty', async () => {
    jest.useFakeTimers();
    const store = memoryDedupeStore();
    const deduper = createRefreshDeduper({ graceMs: 5_000, store });
    await deduper.dedupe('r1', async () => 'a');
    await deduper.dedupe('r2', async () => 'b');
    expect(store.size).toBe(2);
    expect(jest.getTimerCount()).toBe(1);

    await jest.advanceTimersByTimeAsync(6_000);
    expect(jest.getTimerCount()).toBe(0);
    expect(store.size).toBe(0);
    deduper.dispose();
  });

  it('holds nothing after dispose', async () => {
    jest.useFakeTimers();
    const store = memoryDedupeStore();
    const deduper = createRefreshDeduper({ store });
    await deduper.dedupe('r1', async () => 'a');
    deduper.dispose();
    expect(store.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('does not let a caller whose claim expired overwrite the claim another caller took since', async () => {
    jest.useFakeTimers();
    const store = memoryDedupeStore();
    const first = await store.claim('h', 1_000);
    await jest.advanceTimersByTimeAsync(1_000);
    const second = await store.claim('h', 1_000);
    expect(second.state).toBe('claimed');
    if (first.state !== 'claimed' || second.state !== 'claimed') throw new Error('unreachable');
    await store.fulfil('h', first.token, 'stale', 30_000);
    await expect(store.claim('h', 1_000)).resolves.toEqual({ state: 'busy' });
    await store.fulfil('h', second.token, 'fresh', 30_000);
    await expect(store.claim('h', 1_000)).resolves.toEqual({ state: 'done', value: 'fresh' });
    store.dispose!();
  });
});
