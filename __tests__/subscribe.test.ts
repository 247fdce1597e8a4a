/**
 * `gate.subscribe` and the `gate.state` snapshot (issue 14): the snapshot is one object until a
 * field changes, so `useSyncExternalStore(gate.subscribe, () => gate.state)` neither loops nor
 * re-renders for nothing; every change is told, a cooldown's end included; `signedIn` and
 * `gate.tokens` answer "who is logged in" synchronously.
 */
import { createRefreshGate, type RefreshGateState } from '../src/index.js';
import { flush } from './helpers/deferred.js';
import {
  asyncStore,
  controlledRefresh,
  mockApi,
  spyLogger,
  track,
} from './helpers/gate-fixtures.js';

const gates: Array<{ destroy(): void }> = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
  jest.useRealTimers();
});

function setup(options: Parameters<typeof createRefreshGate>[0] | object = {}) {
  const server = mockApi('A0');
  const control = controlledRefresh();
  const gate = createRefreshGate({
    refresh: control.refresh,
    initialTokens: { accessToken: 'A0', refreshToken: 'R0' },
    logger: { debug() {}, warn() {} },
    ...options,
  });
  gates.push(gate);
  gate.attach(server.api);
  /** Every snapshot a listener saw, as `useSyncExternalStore` would read it. */
  const seen: RefreshGateState[] = [];
  const listener = jest.fn(() => {
    seen.push(gate.state);
  });
  const unsubscribe = gate.subscribe(listener);
  return { server, control, gate, seen, listener, unsubscribe };
}

describe('the state snapshot', () => {
  it('is the same object until a field changes, then a new one; the old one never changes', async () => {
    const { server, control, gate } = setup();
    const first = gate.state;
    expect(gate.state).toBe(first);
    expect(first).toEqual({
      status: 'idle',
      waiting: 0,
      refreshes: 0,
      failures: 0,
      signedIn: true,
    });
    // A request on the fast path changes nothing.
    await server.api.get('/a');
    expect(gate.state).toBe(first);

    server.current = 'A1';
    const request = track(server.api.get('/b'));
    await flush();
    const refreshing = gate.state;
    expect(refreshing).not.toBe(first);
    expect(refreshing).toMatchObject({ status: 'refreshing', waiting: 1 });
    expect(gate.state).toBe(refreshing);
    control.call(0).result.resolve({ accessToken: 'A1', refreshToken: 'R1' });
    await flush();
    expect(request.status).toBe('fulfilled');
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1 });
    expect(first).toMatchObject({ status: 'idle', refreshes: 0 });
  });
});

describe('subscribe', () => {
  it('tells every change once it happened, and nothing when nothing changed', async () => {
    const { server, control, gate, seen, listener } = setup();
    await server.api.get('/a');
    await gate.getAccessToken();
    expect(listener).not.toHaveBeenCalled();

    server.current = 'A1';
    const requests = [track(server.api.get('/b')), track(server.api.get('/c'))];
    await flush();
    control.call(0).result.resolve({ accessToken: 'A1', refreshToken: 'R1' });
    await flush();
    expect(requests.map((request) => request.status)).toEqual(['fulfilled', 'fulfilled']);
    // Each told snapshot differs from the one before: no call was for nothing.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toEqual(seen[i - 1]);
    expect(seen.map(({ status, waiting }) => `${status}/${waiting}`)).toEqual([
      'refreshing/0',
      'refreshing/1',
      'refreshing/2',
      'idle/0',
    ]);
    expect(seen.at(-1)).toBe(gate.state);
  });

  it("tells a cooldown's end, on the gate's own clock", async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { server, control, gate, seen } = setup({ cooldownMs: 5_000 });
    server.current = 'A1';
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.reject(new Error('invalid_grant'));
    await flush();
    expect(request.status).toBe('rejected');
    expect(gate.state).toMatchObject({ status: 'cooldown', failures: 1 });
    const told = seen.length;
    await jest.advanceTimersByTimeAsync(4_999);
    expect(seen).toHaveLength(told);
    await jest.advanceTimersByTimeAsync(1);
    expect(seen).toHaveLength(told + 1);
    expect(seen.at(-1)).toMatchObject({ status: 'idle' });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('tells a login and a logout (signedIn), and answers the tokens synchronously', async () => {
    const { gate, seen } = setup();
    expect(gate.tokens).toEqual({ accessToken: 'A0', refreshToken: 'R0' });
    await gate.clear();
    expect(gate.state.signedIn).toBe(false);
    expect(gate.tokens).toBeNull();
    await gate.setTokens({ accessToken: 'A9' });
    expect(gate.tokens).toEqual({ accessToken: 'A9' });
    expect(seen.map((state) => state.signedIn)).toEqual([false, true]);
  });

  it('with an async store: signedIn is null and tokens undefined until its first read answered', async () => {
    const async = asyncStore({ accessToken: 'A0' }, { get: 'manual' });
    const { gate, seen } = setup({ store: async.store, initialTokens: undefined });
    expect(gate.state.signedIn).toBeNull();
    expect(gate.tokens).toBeUndefined();
    const token = track(gate.getAccessToken());
    await flush();
    expect(gate.state.waiting).toBe(1);
    async.release();
    await flush();
    expect(token.value).toBe('A0');
    expect(gate.state).toMatchObject({ signedIn: true, waiting: 0 });
    expect(gate.tokens).toEqual({ accessToken: 'A0' });
    expect(seen.at(-1)).toBe(gate.state);
  });

  it('stops at unsubscribe; a listener that throws is logged and the others are still told', async () => {
    const logger = spyLogger();
    const { gate, listener, unsubscribe } = setup({ logger });
    const thrower = jest.fn(() => {
      throw new Error('render failed');
    });
    const after = jest.fn();
    gate.subscribe(thrower);
    gate.subscribe(after);
    unsubscribe();
    await gate.clear();
    expect(listener).not.toHaveBeenCalled();
    expect(thrower).toHaveBeenCalledTimes(1);
    expect(after).toHaveBeenCalledTimes(1);
    expect(logger.warn).toHaveBeenCalledWith('a subscribe listener threw', expect.anything());
  });

  it('after destroy(): no listener is told, none can be added, no timer stays', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { server, control, gate, listener } = setup();
    server.current = 'A1';
    const request = track(server.api.get('/a'));
    await flush();
    control.call(0).result.reject(new Error('down'));
    await flush();
    expect(request.status).toBe('rejected');
    listener.mockClear();
    gate.destroy();
    const late = jest.fn();
    gate.subscribe(late)();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(listener).not.toHaveBeenCalled();
    expect(late).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
    expect(gate.tokens).toBeNull();
  });
});
