/**
 * Rule 11, bad tokens: a refresh that resolves to anything but a usable token fails with
 * INVALID_TOKENS for every waiter and leaves the store alone; a string replaces the access token
 * only; a store or refresh that throws synchronously or rejects with a non-Error is an ordinary
 * failure.
 */
import {
  createRefreshGate,
  isRefreshGateError,
  type RefreshContext,
  type RefreshGate,
  type TokenStore,
  type Tokens,
} from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import {
  controlledRefresh,
  countingStore,
  latchedCoordinator,
  mockApi,
  rejectionOf,
  type Tracked,
  track,
} from '../helpers/gate-fixtures.js';

const gates: RefreshGate[] = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
});

const initial: Tokens = { accessToken: 'old', refreshToken: 'r1' };

describe('a refresh that resolves to something unusable', () => {
  const bad: Array<[string, unknown]> = [
    ["''", ''],
    ["'  '", '  '],
    ["'a b'", 'a b'],
    ["'a\\tb'", 'a\tb'],
    ["'a\\r\\nX-Evil: 1'", 'a\r\nX-Evil: 1'],
    ["'a\\u0000b'", 'a\u0000b'],
    ['{}', {}],
    ['{ accessToken: 5 }', { accessToken: 5 }],
    ["{ accessToken: '' }", { accessToken: '' }],
    ["{ accessToken: 'a\\nX-Evil: 1' }", { accessToken: 'a\nX-Evil: 1' }],
    // (null is no session to refresh, not a bad token: __tests__/transient-failures.test.ts)
    ['undefined', undefined],
    ['42', 42],
    ['true', true],
    ['[]', []],
  ];

  it.each(bad)(
    '%s fails every waiter with INVALID_TOKENS and leaves the store alone',
    async (_, value) => {
      const server = mockApi('new');
      const control = controlledRefresh();
      const { store, peek } = countingStore();
      const onRefreshFailed = jest.fn();
      const gate = createRefreshGate({
        refresh: control.refresh,
        store,
        initialTokens: initial,
        onRefreshFailed,
      });
      gates.push(gate);
      gate.attach(server.api);
      const storedBefore = peek();

      // One waiter of each kind: a 401 queued for the refresh, a held request, getAccessToken()
      // and a refresh() that joins.
      const queued = track(server.api.get('/queued'));
      await flush();
      expect(control.refresh).toHaveBeenCalledTimes(1);
      const waiters: Tracked<unknown>[] = [
        queued,
        track(server.api.get('/held')),
        track(gate.getAccessToken()),
        track(gate.refresh()),
      ];
      await flush();
      // Rule 18: the refresh() call waits for the refresh itself and is not counted.
      expect(gate.state.waiting).toBe(3);

      control.call(0).result.resolve(value as Tokens);
      await flush();

      const error = waiters[0]?.error;
      expect(isRefreshGateError(error) && error.code).toBe('INVALID_TOKENS');
      for (const waiter of waiters) {
        expect(waiter.status).toBe('rejected');
        expect(waiter.error).toBe(error);
      }
      expect(peek()).toBe(storedBefore);
      expect(store.set).toHaveBeenCalledTimes(1); // the initialTokens, nothing since
      expect(onRefreshFailed).toHaveBeenCalledTimes(1);
      expect(onRefreshFailed).toHaveBeenCalledWith(error, { terminal: true });
      // Nothing carrying the bad value ever went out.
      expect(server.sent()).toEqual([['/queued', 'Bearer old']]);
      expect(gate.state).toMatchObject({ waiting: 0, failures: 1, refreshes: 0 });
    },
  );
});

describe('a refresh that resolves to a string', () => {
  it('replaces the access token and keeps the stored refresh token', async () => {
    const { store, peek } = countingStore();
    const control = controlledRefresh();
    const gate = createRefreshGate({
      refresh: control.refresh,
      store,
      initialTokens: { accessToken: 'old', refreshToken: 'r1', expiresAt: 1 },
    });
    gates.push(gate);

    const first = track(gate.refresh());
    await flush();
    control.call(0).result.resolve('new');
    await flush();
    expect(first.value).toEqual({ accessToken: 'new', refreshToken: 'r1' });
    // The old expiresAt belonged to the old token and is dropped.
    expect(peek()).toEqual({ accessToken: 'new', refreshToken: 'r1' });

    // The next refresh is handed the kept refresh token.
    track(gate.refresh());
    await flush();
    expect(control.call(1).ctx.tokens).toEqual({ accessToken: 'new', refreshToken: 'r1' });
  });

  it('stores the bare access token when there was no refresh token', async () => {
    const { store, peek } = countingStore();
    const gate = createRefreshGate({ refresh: async () => 'new', store });
    gates.push(gate);
    await expect(gate.refresh()).resolves.toEqual({ accessToken: 'new' });
    expect(peek()).toEqual({ accessToken: 'new' });
  });
});

type Failure = 'ok' | 'throw' | 'reject-non-error';

/** A store whose get and set can be made to throw synchronously or reject with a non-Error. */
function faultyStore() {
  let tokens: Tokens | null = null;
  const mode = { get: 'ok' as Failure, set: 'ok' as Failure };
  const fail = (which: 'get' | 'set', kind: Failure): Promise<never> => {
    if (kind === 'throw') throw new Error(`store.${which} exploded`);
    return Promise.reject('nope');
  };
  const store: TokenStore = {
    get: () => (mode.get === 'ok' ? tokens : fail('get', mode.get)),
    set: (next): void | Promise<void> => {
      if (mode.set !== 'ok') return fail('set', mode.set);
      tokens = next;
      return undefined;
    },
    clear: () => {
      tokens = null;
    },
  };
  return { store, mode, peek: () => tokens };
}

/**
 * A gate whose refresh waits for a latched lock, with requests held and calls waiting on it, so
 * that the failure happens while there are waiters.
 */
async function gateWithWaiters(
  refresh: (ctx: RefreshContext) => Promise<Tokens | string>,
  store?: TokenStore,
) {
  const server = mockApi('new');
  const { coordinator, open } = latchedCoordinator();
  const onRefreshFailed = jest.fn();
  const gate = createRefreshGate({
    refresh,
    coordinator,
    cooldownMs: 0,
    onRefreshFailed,
    initialTokens: initial,
    ...(store ? { store } : {}),
  });
  gates.push(gate);
  gate.attach(server.api);
  const waiters = [
    track(gate.refresh()),
    track(server.api.get('/held')),
    track(gate.getAccessToken()),
  ];
  await flush();
  // Rule 18: the refresh() call waits for the refresh itself and is not counted.
  expect(gate.state).toMatchObject({ status: 'refreshing', waiting: 2 });
  return { server, gate, open, waiters, onRefreshFailed };
}

function expectAllRejectedWith(waiters: Tracked<unknown>[], check: (error: unknown) => void) {
  const error = waiters[0]?.error;
  check(error);
  for (const waiter of waiters) {
    expect(waiter.status).toBe('rejected');
    expect(waiter.error).toBe(error);
  }
  return error;
}

describe('failures that are not Errors or not promises', () => {
  it('a refresh that throws synchronously fails its waiters and the next refresh works', async () => {
    const boom = new Error('refresh threw synchronously');
    const refresh = jest.fn((): Promise<Tokens | string> => {
      throw boom;
    });
    const { gate, open, waiters, onRefreshFailed, server } = await gateWithWaiters(refresh);

    open();
    await flush();
    expectAllRejectedWith(waiters, (error) => expect(error).toBe(boom));
    expect(onRefreshFailed).toHaveBeenCalledWith(boom, { terminal: true });
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 0, failures: 1 });
    expect(server.sent()).toEqual([]);

    refresh.mockImplementation(async () => 'new');
    await expect(gate.refresh()).resolves.toMatchObject({ accessToken: 'new' });
    expect(gate.state).toMatchObject({ status: 'idle', refreshes: 1 });
  });

  it("a refresh that rejects with 'nope' fails its waiters with an Error whose cause is 'nope'", async () => {
    const refresh = jest.fn((): Promise<Tokens | string> => Promise.reject('nope'));
    const { gate, open, waiters, onRefreshFailed } = await gateWithWaiters(refresh);

    open();
    await flush();
    const error = expectAllRejectedWith(waiters, (error) => {
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).cause).toBe('nope');
    });
    expect(onRefreshFailed).toHaveBeenCalledWith(error, { terminal: true });
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, failures: 1 });

    refresh.mockImplementation(async () => 'new');
    await expect(gate.refresh()).resolves.toMatchObject({ accessToken: 'new' });
  });

  it('a store.get that throws synchronously under the lock fails the waiters', async () => {
    const faulty = faultyStore();
    const refresh = jest.fn(async () => 'new');
    const { gate, open, waiters } = await gateWithWaiters(refresh, faulty.store);

    faulty.mode.get = 'throw';
    open();
    await flush();
    expectAllRejectedWith(waiters, (error) =>
      expect((error as Error).message).toBe('store.get exploded'),
    );
    expect(refresh).not.toHaveBeenCalled();
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, failures: 1 });

    faulty.mode.get = 'ok';
    await expect(gate.refresh()).resolves.toMatchObject({ accessToken: 'new' });
    expect(faulty.peek()).toMatchObject({ accessToken: 'new' });
  });

  it("a store.get that rejects with 'nope' under the lock fails the waiters with an Error", async () => {
    const faulty = faultyStore();
    const refresh = jest.fn(async () => 'new');
    const { gate, open, waiters } = await gateWithWaiters(refresh, faulty.store);

    faulty.mode.get = 'reject-non-error';
    open();
    await flush();
    expectAllRejectedWith(waiters, (error) => {
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).cause).toBe('nope');
    });
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });

    faulty.mode.get = 'ok';
    await expect(gate.refresh()).resolves.toMatchObject({ accessToken: 'new' });
  });

  it('a store.set that throws synchronously fails the waiters and stores nothing', async () => {
    const faulty = faultyStore();
    const refresh = jest.fn(async () => 'new');
    const { gate, open, waiters, server } = await gateWithWaiters(refresh, faulty.store);

    faulty.mode.set = 'throw';
    open();
    await flush();
    expectAllRejectedWith(waiters, (error) =>
      expect((error as Error).message).toBe('store.set exploded'),
    );
    expect(faulty.peek()).toEqual(initial);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, failures: 1 });
    // The failed refresh's token is not used either.
    await expect(gate.getAccessToken()).resolves.toBe('old');
    expect(server.sent()).toEqual([]);

    faulty.mode.set = 'ok';
    await expect(gate.refresh()).resolves.toMatchObject({ accessToken: 'new' });
    expect(faulty.peek()).toMatchObject({ accessToken: 'new', refreshToken: 'r1' });
  });

  it("a store.set that rejects with 'nope' fails the waiters with an Error whose cause is 'nope'", async () => {
    const faulty = faultyStore();
    const refresh = jest.fn(async () => 'new');
    const { gate, open, waiters } = await gateWithWaiters(refresh, faulty.store);

    faulty.mode.set = 'reject-non-error';
    open();
    await flush();
    expectAllRejectedWith(waiters, (error) => {
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).cause).toBe('nope');
    });
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });

    faulty.mode.set = 'ok';
    await expect(gate.refresh()).resolves.toMatchObject({ accessToken: 'new' });
  });

  it('a store.get that throws on the request path rejects that request, not the gate', async () => {
    const faulty = faultyStore();
    const server = mockApi('old');
    const gate = createRefreshGate({ refresh: async () => 'new', store: faulty.store });
    gates.push(gate);
    gate.attach(server.api);
    await gate.setTokens(initial);

    faulty.mode.get = 'throw';
    const error = await rejectionOf(server.api.get('/a'));
    expect((error as Error).message).toBe('store.get exploded');
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });

    faulty.mode.get = 'ok';
    await expect(server.api.get('/a')).resolves.toMatchObject({ status: 200 });
  });
});
