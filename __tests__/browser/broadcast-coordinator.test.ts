/**
 * broadcastCoordinator in Node with a fake Web Locks manager and Node's own BroadcastChannel (which
 * delivers between channel objects of one name, as between tabs), and its fallbacks where either
 * API is missing. The real thing runs in Chromium in tabs.test.ts and coordinator-contract.test.ts.
 */
import { type BroadcastCoordinatorOptions, broadcastCoordinator } from '../../src/browser/index.js';
import {
  type Coordinator,
  createRefreshGate,
  isRefreshGateError,
  memoryStore,
  type RefreshContext,
  RefreshGateError,
  type TokenStore,
  type Tokens,
} from '../../src/index.js';
import { coordinatorContract } from '../helpers/coordinator-contract.js';
import { deferred, flush } from '../helpers/deferred.js';
import { FakeLocks, installBrowserGlobals } from './fakes.js';

const silent = { warn: jest.fn() };
let names = 0;
const freshName = () => `test-lock-${++names}`;

/** Waits for what Node's BroadcastChannel delivers (a message takes a few event-loop turns). */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, i < 50 ? 0 : 5));
  }
  throw new Error(`timed out waiting until ${what}`);
}

describe('with Web Locks and BroadcastChannel', () => {
  let locks: FakeLocks;
  let restore: () => void;
  const made: Coordinator[] = [];

  beforeEach(() => {
    locks = new FakeLocks();
    restore = installBrowserGlobals({ locks });
    silent.warn.mockClear();
  });
  afterEach(() => {
    for (const coordinator of made.splice(0)) coordinator.dispose?.();
    restore();
    jest.useRealTimers();
  });

  const make = (name = freshName()) => {
    const coordinator = broadcastCoordinator({ name, logger: silent });
    made.push(coordinator);
    return coordinator;
  };

  describe('the contract, between two tabs', () => {
    let name = '';
    coordinatorContract(
      'broadcastCoordinator (fake Web Locks, Node BroadcastChannel)',
      () => {
        name = freshName();
        return make(name);
      },
      { peer: () => make(name) },
    );
  });

  it('requests an exclusive Web Lock under its name, and says nothing', async () => {
    const coordinator = make('my-app');
    await coordinator.runExclusive(async () => {}, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    expect(locks.requests).toEqual([{ name: 'my-app', mode: 'exclusive' }]);
    expect(silent.warn).not.toHaveBeenCalled();
  });

  it("uses 'axios-refresh-gate' as the default name", async () => {
    const coordinator = broadcastCoordinator({ logger: silent });
    made.push(coordinator);
    await coordinator.runExclusive(async () => {}, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    expect(locks.requests[0]?.name).toBe('axios-refresh-gate');
  });

  it('takes a name left undefined as not given', async () => {
    const configured: { name?: string } = {};
    const coordinator = broadcastCoordinator({ name: configured.name, logger: silent });
    made.push(coordinator);
    await coordinator.runExclusive(async () => {}, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    expect(locks.requests[0]?.name).toBe('axios-refresh-gate');
  });

  it('times a waiting call out with REFRESH_TIMEOUT naming the option, and clears its timer', async () => {
    jest.useFakeTimers();
    const name = freshName();
    const holder = make(name);
    const body = deferred<void>();
    const holding = holder.runExclusive(() => body.promise, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    const waiting = make(name).runExclusive(async () => 'ran', {
      signal: new AbortController().signal,
      timeoutMs: 5_000,
    });
    const outcome = waiting.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(5_000);
    const error = await outcome;
    expect(isRefreshGateError(error) && error.code).toBe('REFRESH_TIMEOUT');
    expect((error as Error).message).toBe(
      'the refresh lock was not acquired within 5000 ms (refreshTimeoutMs)',
    );
    body.resolve();
    await holding;
    expect(jest.getTimerCount()).toBe(0);
  });

  it('clears its timer when the lock comes in time', async () => {
    jest.useFakeTimers();
    const name = freshName();
    const body = deferred<void>();
    const holding = make(name).runExclusive(() => body.promise, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    const waiting = make(name).runExclusive(async () => 'in time', {
      signal: new AbortController().signal,
      timeoutMs: 5_000,
    });
    jest.advanceTimersByTime(4_999);
    body.resolve();
    await holding;
    await expect(waiting).resolves.toBe('in time');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects with the caller’s reason where the browser rejects an aborted request with a plain AbortError', async () => {
    locks.abortBehaviour = 'legacy';
    const name = freshName();
    const body = deferred<void>();
    const holding = make(name).runExclusive(() => body.promise, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    const controller = new AbortController();
    const waiting = make(name).runExclusive(async () => 'ran', {
      signal: controller.signal,
      timeoutMs: 0,
    });
    const reason = new Error('destroyed');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    body.resolve();
    await holding;
  });

  it('does not run fn when the lock is granted after the wait timed out (grant and timeout in one turn)', async () => {
    // The fake ignores the abort, so the grant comes after the timeout for certain.
    locks.abortBehaviour = 'ignore';
    jest.useFakeTimers();
    const name = freshName();
    const body = deferred<void>();
    const holding = make(name).runExclusive(() => body.promise, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    const fn = jest.fn(async () => 'ran');
    const outcome = make(name)
      .runExclusive(fn, { signal: new AbortController().signal, timeoutMs: 1_000 })
      .then(
        () => 'resolved',
        (error: unknown) => error,
      );
    jest.advanceTimersByTime(1_000);
    body.resolve();
    await holding;
    const error = await outcome;
    expect(isRefreshGateError(error) && error.code).toBe('REFRESH_TIMEOUT');
    expect(fn).not.toHaveBeenCalled();
    expect(locks.isHeld(name)).toBe(false);
  });

  it('runs fn only once what the lock holder announced before releasing has been heard', async () => {
    // The lock grant and the channel's messages travel separately (in Chromium the grant can come
    // first), so a member that gets the lock first lets the channel catch up.
    const name = freshName();
    const holder = make(name);
    const waiter = make(name);
    const heard: Array<Tokens | null> = [];
    waiter.subscribe!((tokens) => heard.push(tokens));
    const body = deferred<void>();
    const holding = holder.runExclusive(
      async () => {
        await body.promise;
        holder.publish!({ accessToken: 'fresh' });
      },
      { signal: new AbortController().signal, timeoutMs: 0 },
    );
    const seenAtEntry = waiter.runExclusive(async () => [...heard], {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    body.resolve();
    await holding;
    expect(await seenAtEntry).toEqual([{ accessToken: 'fresh' }]);
  });

  it('does not run fn when the caller aborts while the channel catches up', async () => {
    const name = freshName();
    const coordinator = make(name);
    const controller = new AbortController();
    const fn = jest.fn(async () => 'ran');
    const running = coordinator.runExclusive(fn, { signal: controller.signal, timeoutMs: 0 });
    // The lock is granted at once; the barrier's ping takes a few event-loop turns.
    await Promise.resolve();
    await Promise.resolve();
    const reason = new Error('destroyed');
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    await flush(10);
    expect(fn).not.toHaveBeenCalled();
    expect(locks.isHeld(name)).toBe(false);
  });

  it('does not wait for the channel once disposed, and refuses later calls with DESTROYED', async () => {
    const name = freshName();
    const coordinator = make(name);
    const running = coordinator.runExclusive(async () => 'ran', {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    await Promise.resolve();
    coordinator.dispose!();
    await expect(running).resolves.toBe('ran');
    const after = jest.fn(async () => 'after');
    const error = await coordinator
      .runExclusive(after, { signal: new AbortController().signal, timeoutMs: 0 })
      .catch((thrown: unknown) => thrown);
    expect(isRefreshGateError(error) && error.code).toBe('DESTROYED');
    expect((error as Error).message).toContain(`broadcastCoordinator ("${name}") was disposed of`);
    expect(after).not.toHaveBeenCalled();
    expect(locks.requests).toHaveLength(1);
  });

  it('ignores messages on its channel that are not its own, and tokens that are not tokens', async () => {
    const name = freshName();
    const coordinator = make(name);
    const heard: Array<Tokens | null> = [];
    coordinator.subscribe!((tokens) => heard.push(tokens));
    const other = new BroadcastChannel(name);
    try {
      other.postMessage('hello');
      other.postMessage(null);
      other.postMessage({ source: 'axios-refresh-gate', ping: 'not-ours' });
      other.postMessage({ tokens: { accessToken: 'no-source' } });
      other.postMessage({ source: 'axios-refresh-gate', tokens: { accessToken: 'with space' } });
      // A token that would inject a header into every request of the tab that adopts it.
      other.postMessage({
        source: 'axios-refresh-gate',
        tokens: { accessToken: 'abc\r\nX-Evil: 1' },
      });
      other.postMessage({
        source: 'axios-refresh-gate',
        tokens: { accessToken: 'a', refreshToken: '' },
      });
      other.postMessage({ source: 'axios-refresh-gate', tokens: { refreshToken: 'r' } });
      other.postMessage({ source: 'axios-refresh-gate', tokens: 'a' });
      other.postMessage({
        source: 'axios-refresh-gate',
        tokens: { accessToken: 'a2', refreshToken: 'r2', expiresAt: 5, extra: 'dropped' },
      });
      other.postMessage({ source: 'axios-refresh-gate', tokens: null });
      await eventually(() => heard.length === 2, 'the two good messages arrived');
      await flush();
      expect(heard).toEqual([{ accessToken: 'a2', refreshToken: 'r2', expiresAt: 5 }, null]);
    } finally {
      other.close();
    }
  });

  it('announces only the known token fields', async () => {
    const name = freshName();
    const other = new BroadcastChannel(name);
    const received: unknown[] = [];
    other.onmessage = (event) => received.push(event.data);
    try {
      make(name).publish!({ accessToken: 'a', extra: 'secret' } as Tokens);
      await eventually(() => received.length === 1, 'the message arrived');
      expect(received[0]).toEqual({ source: 'axios-refresh-gate', tokens: { accessToken: 'a' } });
    } finally {
      other.close();
    }
  });

  it('stops listening and publishing after dispose()', async () => {
    const name = freshName();
    const coordinator = make(name);
    const peer = make(name);
    const heard: Array<Tokens | null> = [];
    coordinator.subscribe!((tokens) => heard.push(tokens));
    coordinator.dispose!();
    coordinator.dispose!();
    const peerHeard: Array<Tokens | null> = [];
    peer.subscribe!((tokens) => peerHeard.push(tokens));
    coordinator.publish!({ accessToken: 'not sent' });
    // A message sent after it by a live member arrives, and is the only one.
    make(name).publish!({ accessToken: 'sent' });
    await eventually(() => peerHeard.length > 0, 'the live member was heard');
    await flush();
    expect(peerHeard).toEqual([{ accessToken: 'sent' }]);
    expect(heard).toEqual([]);
  });

  it('rejects a name that is not a non-empty string with INVALID_OPTIONS', () => {
    expect(() => broadcastCoordinator({ name: '' })).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTIONS',
        message: 'Expected `name` to be a non-empty string, got `""` (string)',
      }),
    );
    expect(() => broadcastCoordinator({ name: 5 as unknown as string })).toThrow(
      'Expected `name` to be a non-empty string, got `5` (number)',
    );
  });

  it('rejects options or a logger that are not ones with INVALID_OPTIONS, before it opens anything', () => {
    const failure = (options: unknown) => {
      try {
        made.push(broadcastCoordinator(options as BroadcastCoordinatorOptions));
      } catch (error) {
        expect(error).toBeInstanceOf(RefreshGateError);
        return isRefreshGateError(error) ? [error.code, error.message] : error;
      }
      throw new Error('expected it to throw');
    };
    expect(failure(null)).toEqual([
      'INVALID_OPTIONS',
      'Expected `options` to be an object { name?, logger? }, got `null` (null)',
    ]);
    for (const logger of [{}, 'console', { warn: 'loud' }]) {
      expect(failure({ name: freshName(), logger })).toEqual([
        'INVALID_OPTIONS',
        expect.stringMatching(/^Expected `logger` to be an object with a warn function/),
      ]);
    }
    expect(locks.requests).toHaveLength(0);
  });

  it('makes two gates (two tabs) sharing a store refresh once: the second adopts the first one’s tokens', async () => {
    const name = freshName();
    const shared = memoryStore({ accessToken: 'old', refreshToken: 'r1' });
    const calls: Array<{ ctx: RefreshContext; result: ReturnType<typeof deferred<Tokens>> }> = [];
    const refresh = (ctx: RefreshContext) => {
      const result = deferred<Tokens>();
      calls.push({ ctx, result });
      return result.promise;
    };
    const logger = { debug: () => {}, warn: jest.fn() };
    const one = createRefreshGate({ refresh, store: shared, coordinator: make(name), logger });
    const two = createRefreshGate({ refresh, store: shared, coordinator: make(name), logger });
    const changed: unknown[] = [];
    two.on('tokens:changed', (tokens) => changed.push(tokens));
    try {
      const first = one.refresh();
      await eventually(() => calls.length === 1, 'the first tab refreshes');
      // Settled either way, so that a failing run does not leave it rejecting unhandled.
      const second = two.refresh().then(
        (tokens) => tokens,
        (error: unknown) => error,
      );
      await flush(10);
      // The second tab waits for the lock instead of refreshing with the same refresh token.
      expect(calls).toHaveLength(1);
      expect(two.state.status).toBe('refreshing');

      const fresh = { accessToken: 'new', refreshToken: 'r2' };
      calls[0]!.result.resolve(fresh);
      await expect(first).resolves.toEqual(fresh);
      expect(await second).toEqual(fresh);
      expect(calls).toHaveLength(1);
      expect(two.state).toMatchObject({ status: 'idle', refreshes: 0 });
      await eventually(() => changed.length === 1, 'the second tab heard the new tokens');
      expect(changed).toEqual([fresh]);
      expect(logger.warn).not.toHaveBeenCalled();
    } finally {
      one.destroy();
      two.destroy();
    }
  });

  it('makes two gates of one tab that share one coordinator hear each other, as the in-process and Redis ones do', async () => {
    const coordinator = make();
    const refresh = async () => ({ accessToken: 'unused' });
    const one = createRefreshGate({ refresh, coordinator, initialTokens: { accessToken: 'old' } });
    const two = createRefreshGate({ refresh, coordinator, initialTokens: { accessToken: 'old' } });
    const heard: unknown[] = [];
    two.on('tokens:changed', (tokens) => heard.push(tokens));
    try {
      await one.setTokens({ accessToken: 'login', refreshToken: 'r9' });
      expect(heard).toEqual([{ accessToken: 'login', refreshToken: 'r9' }]);
      expect(await two.getAccessToken()).toBe('login');
      await one.clear();
      expect(heard).toEqual([{ accessToken: 'login', refreshToken: 'r9' }, null]);
      expect(await two.getAccessToken()).toBeNull();
    } finally {
      one.destroy();
      two.destroy();
    }
  });

  it('a tab whose store still shows the stale token when the lock comes adopts the tokens it heard', async () => {
    // localStorage reaches the other tabs on its own schedule: in Chromium the lock grant and the
    // announcement can both come before the write. Each gate here has its own view of the store;
    // the second one's view is only updated when the test says so.
    const name = freshName();
    const old: Tokens = { accessToken: 'old', refreshToken: 'r1' };
    const views = [old, old];
    const store = (i: number): TokenStore => ({
      get: () => views[i]!,
      set: (tokens) => {
        views[i] = tokens;
      },
      clear: () => {},
    });
    const calls: Array<ReturnType<typeof deferred<Tokens>>> = [];
    const refresh = () => {
      const call = deferred<Tokens>();
      calls.push(call);
      return call.promise;
    };
    const logger = { debug: () => {}, warn: () => {} };
    const one = createRefreshGate({ refresh, store: store(0), coordinator: make(name), logger });
    const two = createRefreshGate({ refresh, store: store(1), coordinator: make(name), logger });
    try {
      const first = one.refresh();
      await eventually(() => calls.length === 1, 'the first tab refreshes');
      // Settled either way, so that a failing run does not leave it rejecting unhandled.
      const second = two.refresh().then(
        (tokens) => tokens,
        (error: unknown) => error,
      );
      await flush(10);
      const fresh = { accessToken: 'new', refreshToken: 'r2' };
      calls[0]!.resolve(fresh);
      await expect(first).resolves.toEqual(fresh);
      await eventually(
        () => calls.length > 1 || two.state.status === 'idle',
        'the second tab refreshed again or adopted',
      );
      // Its store still shows 'old', but it heard 'new' before its turn: no second refresh.
      expect(calls).toHaveLength(1);
      expect(views[1]).toBe(old);
      expect(await second).toEqual(fresh);
      // Requests keep getting the new token while the store lags, and the store once it caught up.
      expect(await two.getAccessToken()).toBe('new');
      views[1] = { accessToken: 'newer', refreshToken: 'r3' };
      expect(await two.getAccessToken()).toBe('newer');
    } finally {
      one.destroy();
      two.destroy();
    }
  });
});

describe('where the APIs are missing', () => {
  let restore: (() => void) | undefined;
  afterEach(() => {
    restore?.();
    restore = undefined;
    jest.restoreAllMocks();
  });

  describe('the contract, in the in-process fallback (no Web Locks)', () => {
    let restoreGlobals: () => void;
    beforeAll(() => {
      restoreGlobals = installBrowserGlobals({});
    });
    afterAll(() => restoreGlobals());
    coordinatorContract(
      'broadcastCoordinator without Web Locks',
      () => broadcastCoordinator({ logger: silent }),
      { peer: (first) => first },
    );
  });

  it('falls back to in-process without Web Locks (Node, insecure contexts) and says so once', async () => {
    restore = installBrowserGlobals({});
    const logger = { warn: jest.fn() };
    const coordinator = broadcastCoordinator({ logger });
    const heard: Array<Tokens | null> = [];
    coordinator.subscribe!((tokens) => heard.push(tokens));
    coordinator.publish!({ accessToken: 'a' });
    await coordinator.runExclusive(async () => {}, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    await coordinator.runExclusive(async () => {}, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    // In-process: delivered at once, in this realm.
    expect(heard).toEqual([{ accessToken: 'a' }]);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0]![0]).toMatch(
      /^Web Locks \(navigator\.locks\) is not available here .*: refreshes and new tokens are coordinated within this tab only$/,
    );
    coordinator.dispose!();
  });

  it('with no navigator at all (Node 20), falls back too', () => {
    expect((globalThis as { navigator?: unknown }).navigator).toBeUndefined();
    const logger = { warn: jest.fn() };
    broadcastCoordinator({ logger }).dispose!();
    expect(logger.warn).toHaveBeenCalledTimes(1);
  });

  it('keeps the Web Lock without BroadcastChannel, announcing within this tab only', async () => {
    const locks = new FakeLocks();
    restore = installBrowserGlobals({ locks, broadcastChannel: false });
    const logger = { warn: jest.fn() };
    const coordinator = broadcastCoordinator({ name: 'only-locks', logger });
    const heard: Array<Tokens | null> = [];
    const unsubscribe = coordinator.subscribe!((tokens) => heard.push(tokens));
    coordinator.publish!(null);
    unsubscribe();
    coordinator.publish!({ accessToken: 'a' });
    await coordinator.runExclusive(async () => {}, {
      signal: new AbortController().signal,
      timeoutMs: 0,
    });
    expect(heard).toEqual([null]);
    expect(locks.requests).toEqual([{ name: 'only-locks', mode: 'exclusive' }]);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0]![0]).toMatch(
      /^BroadcastChannel is not available here .*: refreshes are still one at a time across tabs, but new tokens are announced within this tab only$/,
    );
    coordinator.dispose!();
    coordinator.publish!({ accessToken: 'b' });
    expect(heard).toEqual([null]);
  });

  it('names both when both are missing, in one warning through console.warn by default', () => {
    restore = installBrowserGlobals({ broadcastChannel: false });
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    broadcastCoordinator().dispose!();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]).toEqual([
      '[axios-refresh-gate]',
      expect.stringMatching(
        /^Web Locks \(navigator\.locks\) and BroadcastChannel are not available/,
      ),
    ]);
  });
});
