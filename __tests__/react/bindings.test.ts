/**
 * `axios-refresh-gate/react` without a DOM: the provider and the hooks rendered with
 * `react-dom/server`, and the stores the hooks hand to `useSyncExternalStore` (its `subscribe`
 * and `getSnapshot`) driven directly, as React's client renderer would drive them: told of every
 * change and only then, the same snapshot until something changed, silent after unsubscribing.
 * The live re-rendering in a browser is the example apps' suite (`__tests__/examples/`).
 */
import axios from 'axios';
import { createElement, type ReactNode, useSyncExternalStore } from 'react';
import { renderToString } from 'react-dom/server';
import type { RefreshGate, RefreshGateState } from '../../src/index.js';
import {
  RefreshGateProvider,
  useAccessToken,
  useApi,
  useGateState,
  useRefreshGate,
} from '../../src/react/index.js';
import { flush } from '../helpers/deferred.js';
import { asyncStore, gatesHoldingA0, track } from '../helpers/gate-fixtures.js';

jest.mock('react', () => {
  const actual = jest.requireActual<typeof import('react')>('react');
  return { ...actual, useSyncExternalStore: jest.fn(actual.useSyncExternalStore) };
});

type Store<T> = {
  subscribe: (onChange: () => void) => () => void;
  getSnapshot: () => T;
  getServerSnapshot: () => T;
};

/** The `useSyncExternalStore` stores of the last render, in hook call order. */
function storesOfLastRender(): Array<Store<unknown>> {
  const calls = jest.mocked(useSyncExternalStore).mock.calls;
  const stores = calls.map(([subscribe, getSnapshot, getServerSnapshot]) => ({
    subscribe,
    getSnapshot,
    getServerSnapshot: getServerSnapshot!,
  }));
  jest.mocked(useSyncExternalStore).mockClear();
  return stores;
}

afterEach(() => {
  jest.mocked(useSyncExternalStore).mockClear();
  jest.useRealTimers();
});

const setup = gatesHoldingA0();

/** Calls `hooks` in its render and hands their result to `onResult`. */
function Probe({ hooks, onResult }: { hooks: () => unknown; onResult: (value: unknown) => void }) {
  onResult(hooks());
  return null;
}

/** Renders `hooks` in a component (under `wrap`, if given) and returns what they returned. */
function renderHooks<T>(hooks: () => T, wrap?: (child: ReactNode) => ReactNode): T {
  let result: { value: T } | undefined;
  const probe = createElement(Probe, {
    hooks,
    onResult: (value) => {
      result = { value: value as T };
    },
  });
  renderToString(wrap ? wrap(probe) : probe);
  return result!.value;
}

/** What the hooks' stores hold on the client (a server render sees their server snapshots). */
function clientSnapshots(hooks: () => unknown, wrap?: (child: ReactNode) => ReactNode): unknown[] {
  jest.mocked(useSyncExternalStore).mockClear();
  renderHooks(hooks, wrap);
  return storesOfLastRender().map((store) => store.getSnapshot());
}

/** The server snapshot: the same on every server and during hydration, whatever a gate holds. */
const SERVER_STATE = { status: 'idle', waiting: 0, refreshes: 0, failures: 0, signedIn: null };

const inProvider =
  (gate: RefreshGate, api?: ReturnType<typeof axios.create>) => (child: ReactNode) =>
    createElement(RefreshGateProvider, { gate, api }, child);

describe('RefreshGateProvider and the hooks', () => {
  it('give the hooks below it the gate, the axios instance, its state and its token', () => {
    const { gate } = setup();
    const api = axios.create();
    const seen = renderHooks(
      () => ({
        gate: useRefreshGate(),
        api: useApi(),
        state: useGateState(),
        token: useAccessToken(),
      }),
      inProvider(gate, api),
    );
    expect(seen.gate).toBe(gate);
    expect(seen.api).toBe(api);
    // Rendered on a server: what hydration will see too, not what this gate holds.
    expect(seen.state).toEqual(SERVER_STATE);
    expect(seen.token).toBeUndefined();
    const [state, token] = clientSnapshots(
      () => [useGateState(), useAccessToken()],
      inProvider(gate, api),
    );
    expect(state).toBe(gate.state);
    expect(state).toMatchObject({ status: 'idle', signedIn: true });
    expect(token).toBe('A0');
  });

  it('render its children', () => {
    const { gate } = setup();
    const html = renderToString(
      createElement(RefreshGateProvider, { gate }, createElement('p', null, 'hello')),
    );
    expect(html).toBe('<p>hello</p>');
  });

  it('throw a clear error outside a provider, and useApi() one without an instance', () => {
    const { gate } = setup();
    expect(() => renderHooks(() => useRefreshGate())).toThrow(
      'useRefreshGate() needs a <RefreshGateProvider gate={gate}> above it, or the gate as its argument',
    );
    expect(() => renderHooks(() => useGateState())).toThrow(/^useGateState\(\) needs a/);
    expect(() => renderHooks(() => useAccessToken())).toThrow(/^useAccessToken\(\) needs a/);
    expect(() => renderHooks(() => useApi())).toThrow(
      'useApi() needs a <RefreshGateProvider gate={gate} api={api}> above it',
    );
    expect(() => renderHooks(() => useApi(), inProvider(gate))).toThrow(/^useApi\(\) needs a/);
  });

  it('take a gate as their argument, which wins over the provider', () => {
    const { gate } = setup();
    const other = setup({ initialTokens: { accessToken: 'B0' } }).gate;
    expect(clientSnapshots(() => [useGateState(gate), useAccessToken(gate)])).toEqual([
      gate.state,
      'A0',
    ]);
    expect(clientSnapshots(() => useAccessToken(other), inProvider(gate))).toEqual(['B0']);
  });

  it('tell signed out (null) from not read yet (undefined)', () => {
    const { gate } = setup({ initialTokens: undefined });
    expect(clientSnapshots(() => useAccessToken(gate))).toEqual([null]);
    const async = asyncStore({ accessToken: 'S0' }, { get: 'manual' });
    const { gate: later } = setup({ store: async.store, initialTokens: undefined });
    const [token, state] = clientSnapshots(() => [useAccessToken(later), useGateState(later)]);
    expect(token).toBeUndefined();
    expect((state as RefreshGateState).signedIn).toBeNull();
  });
});

describe("useGateState()'s store", () => {
  function store(gate: RefreshGate) {
    renderHooks(() => useGateState(gate));
    const [found] = storesOfLastRender();
    return found as Store<RefreshGateState>;
  }

  it('tells every change and only then, with one snapshot per change, and is silent after unsubscribing', async () => {
    const { gate, control } = setup();
    const { subscribe, getSnapshot, getServerSnapshot } = store(gate);
    const first = getSnapshot();
    expect(first).toBe(gate.state);
    expect(getServerSnapshot()).toEqual(SERVER_STATE);

    const seen: RefreshGateState[] = [];
    const unsubscribe = subscribe(() => seen.push(getSnapshot()));
    // Nothing changes: nothing told, the same object.
    await gate.getAccessToken();
    expect(seen).toEqual([]);
    expect(getSnapshot()).toBe(first);

    const refresh = track(gate.refresh());
    await flush();
    expect(seen.at(-1)).toMatchObject({ status: 'refreshing' });
    expect(getSnapshot()).toBe(seen.at(-1));
    control.call(0).result.resolve({ accessToken: 'A1', refreshToken: 'R1' });
    await flush();
    expect(refresh.status).toBe('fulfilled');
    expect(seen.at(-1)).toMatchObject({ status: 'idle', refreshes: 1 });
    expect(new Set(seen).size).toBe(seen.length);

    unsubscribe();
    const told = seen.length;
    await gate.clear();
    expect(getSnapshot().signedIn).toBe(false);
    expect(seen).toHaveLength(told);
  });

  it("tells a cooldown's end, which no event announces", async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { gate, control } = setup({ cooldownMs: 1000, refreshRetry: false });
    const { subscribe, getSnapshot } = store(gate);
    const onChange = jest.fn();
    const unsubscribe = subscribe(onChange);
    const refresh = track(gate.refresh());
    await flush();
    control.call(0).result.reject(new Error('refresh failed'));
    await flush();
    expect(refresh.status).toBe('rejected');
    expect(getSnapshot()).toMatchObject({ status: 'cooldown', failures: 1 });
    const told = onChange.mock.calls.length;
    jest.advanceTimersByTime(1000);
    expect(onChange).toHaveBeenCalledTimes(told + 1);
    expect(getSnapshot()).toMatchObject({ status: 'idle', failures: 1 });
    unsubscribe();
  });
});

describe("useAccessToken()'s store", () => {
  function store(gate: RefreshGate) {
    renderHooks(() => useAccessToken(gate));
    const [found] = storesOfLastRender();
    return found as Store<string | null | undefined>;
  }

  it('follows logins, refreshes and logouts, and is silent after unsubscribing', async () => {
    const { gate, control } = setup();
    const { subscribe, getSnapshot, getServerSnapshot } = store(gate);
    expect(getSnapshot()).toBe('A0');
    expect(getServerSnapshot()).toBeUndefined();
    const seen: Array<string | null | undefined> = [];
    const unsubscribe = subscribe(() => seen.push(getSnapshot()));

    await gate.setTokens({ accessToken: 'A1', refreshToken: 'R1' });
    expect(getSnapshot()).toBe('A1');
    const refresh = track(gate.refresh());
    await flush();
    control.call(0).result.resolve({ accessToken: 'A2', refreshToken: 'R2' });
    await flush();
    expect(refresh.status).toBe('fulfilled');
    expect(getSnapshot()).toBe('A2');
    await gate.clear();
    expect(getSnapshot()).toBeNull();
    expect(seen).toContain('A1');
    expect(seen).toContain('A2');
    expect(seen.at(-1)).toBeNull();

    unsubscribe();
    const told = seen.length;
    await gate.setTokens({ accessToken: 'A3' });
    expect(getSnapshot()).toBe('A3');
    expect(seen).toHaveLength(told);
  });

  it("tells an async store's first read", async () => {
    const async = asyncStore({ accessToken: 'S0' }, { get: 'manual' });
    const { gate } = setup({ store: async.store, initialTokens: undefined });
    const { subscribe, getSnapshot } = store(gate);
    expect(getSnapshot()).toBeUndefined();
    const onChange = jest.fn();
    const unsubscribe = subscribe(onChange);
    const token = track(gate.getAccessToken());
    await flush();
    async.release();
    await flush();
    expect(token.value).toBe('S0');
    expect(onChange).toHaveBeenCalled();
    expect(getSnapshot()).toBe('S0');
    unsubscribe();
  });
});
