/**
 * An adversarial review of issue 14 (frontends): `gate.subscribe`, the `gate.state` snapshot, the
 * cooldown-end timer, `gate.tokens`, the `PublicGate` class and the React and Vue bindings. Each
 * test is one finding and failed on the code it was written against.
 */
import { createElement, useSyncExternalStore } from 'react';
import { renderToString as renderReactToString } from 'react-dom/server';
import { createSSRApp, defineComponent, h } from 'vue';
import { renderToString as renderVueToString } from 'vue/server-renderer';
import type { RefreshGate, RefreshGateState } from '../src/index.js';
import { useGateState, useAccessToken as useReactAccessToken } from '../src/react/index.js';
import {
  createRefreshGatePlugin,
  useAccessToken as useVueAccessToken,
  useGateState as useVueGateState,
} from '../src/vue/index.js';
import { flush } from './helpers/deferred.js';
import { asyncStore, gatesHoldingA0, mockApi, track } from './helpers/gate-fixtures.js';

jest.mock('react', () => {
  const actual = jest.requireActual<typeof import('react')>('react');
  return { ...actual, useSyncExternalStore: jest.fn(actual.useSyncExternalStore) };
});

const _quiet = { debug() {}, warn() {} };
afterEach(() => {
  jest.mocked(useSyncExternalStore).mockClear();
  jest.restoreAllMocks();
  jest.useRealTimers();
});

const setup = gatesHoldingA0();

/** Calls the hook it is given in its render. */
function Probe({ hook }: { hook: () => unknown }) {
  hook();
  return null;
}

/** The server snapshot `useSyncExternalStore` was given by `hook`, rendered with react-dom/server. */
function serverSnapshotOf<T>(hook: () => T): T {
  jest.mocked(useSyncExternalStore).mockClear();
  renderReactToString(createElement(Probe, { hook }));
  const [call] = jest.mocked(useSyncExternalStore).mock.calls;
  const getServerSnapshot = call?.[2];
  if (!getServerSnapshot) throw new Error('the hook gave useSyncExternalStore no server snapshot');
  return getServerSnapshot() as T;
}

describe('adversarial review, issue 14', () => {
  it("tells subscribers when an async store's first read, started by reading the state, answers", async () => {
    // An app whose first screen only shows `useGateState()` (a spinner while signedIn is null) and
    // makes no request yet: subscribing reads the state, which starts the store's first read.
    const async = asyncStore({ accessToken: 'S0' }, { get: 'manual' });
    const { gate } = setup({ store: async.store, initialTokens: undefined });
    const listener = jest.fn();
    gate.subscribe(listener);
    const before = gate.state;
    expect(before.signedIn).toBeNull();
    expect(async.pending('get')).toHaveLength(1);

    async.release('get');
    await flush();

    expect(gate.state).not.toBe(before);
    expect(gate.state.signedIn).toBe(true);
    expect(gate.tokens).toEqual({ accessToken: 'S0' });
    // The snapshot changed: useSyncExternalStore must be told, or the spinner stays forever.
    expect(listener).toHaveBeenCalled();
  });

  it('tells subscribers of a change even when gate.state was read before the gate told them (an event listener reading it)', async () => {
    const { gate, control } = setup();
    // Logging the state from an event listener: a read inside the transition.
    gate.on('refresh:start', () => {
      void gate.state.status;
    });
    const seen: RefreshGateState[] = [];
    gate.subscribe(() => seen.push(gate.state));

    const refresh = track(gate.refresh());
    await flush();
    expect(gate.state.status).toBe('refreshing');
    expect(seen.map((state) => state.status)).toContain('refreshing');

    control.call(0).result.resolve({ accessToken: 'A1', refreshToken: 'R1' });
    await flush();
    expect(refresh.status).toBe('fulfilled');
  });

  it('destroy() and attach() work when taken off the gate, as they did before the gate became a class', () => {
    const { gate } = setup();
    const server = mockApi('A0');
    // `onUnmounted(gate.destroy)`, `process.once('SIGTERM', gate.destroy)`, `return gate.destroy`
    // from a React effect: a method passed as a callback.
    const { attach, destroy } = gate;
    expect(() => attach(server.api)).not.toThrow();
    expect(server.api.interceptors.request.handlers?.length).toBe(1);
    expect(() => destroy()).not.toThrow();
    return expect(gate.getAccessToken()).rejects.toMatchObject({ code: 'DESTROYED' });
  });

  it('Vue composables rendered on the server leave no subscription on the gate (no scope is disposed there)', async () => {
    // A module-level gate in a Vue SSR server (Nuxt): every request's render runs setup().
    const { gate } = setup();
    let live = 0;
    const counted = <A extends unknown[]>(start: (...args: A) => () => void) =>
      ((...args: A) => {
        const stop = start(...args);
        live++;
        let stopped = false;
        return () => {
          if (!stopped) live--;
          stopped = true;
          stop();
        };
      }) as never;
    // The gate as the composables use it, each subscription counted until it is stopped.
    const observed = {
      subscribe: counted(gate.subscribe),
      on: counted(gate.on),
      get state() {
        return gate.state;
      },
      get tokens() {
        return gate.tokens;
      },
    } as unknown as RefreshGate;
    const App = defineComponent({
      setup() {
        const state = useVueGateState();
        const token = useVueAccessToken();
        return () => h('p', `${state.value.status} ${String(token.value)}`);
      },
    });
    for (let request = 0; request < 3; request++) {
      const app = createSSRApp(App).use(createRefreshGatePlugin(observed));
      expect(await renderVueToString(app)).toBe('<p>idle A0</p>');
    }
    expect(live).toBe(0);
  });

  it("React's server snapshot does not depend on the tokens this gate holds, so hydration matches the server's render", () => {
    // Hydration renders with getServerSnapshot: it must be what the server rendered, and the
    // server cannot know the tokens of this browser (localStorage, an app's own store).
    const signedIn = setup().gate;
    const signedOut = setup({ initialTokens: undefined }).gate;
    expect(serverSnapshotOf(() => useReactAccessToken(signedIn))).toBe(
      serverSnapshotOf(() => useReactAccessToken(signedOut)),
    );
    expect(serverSnapshotOf(() => useGateState(signedIn))).toEqual(
      serverSnapshotOf(() => useGateState(signedOut)),
    );
  });

  it('the cooldown-end timer, only there to tell listeners, does not keep a Node process alive', async () => {
    const setTimeoutSpy = jest.spyOn(global, 'setTimeout');
    const { gate, control } = setup({ cooldownMs: 60_000, refreshRetry: false });
    gate.subscribe(() => {});
    const refresh = track(gate.refresh());
    await flush();
    control.call(0).result.reject(new Error('refresh endpoint down'));
    await flush();
    expect(refresh.status).toBe('rejected');
    expect(gate.state.status).toBe('cooldown');
    const index = setTimeoutSpy.mock.calls.findIndex(
      ([, ms]) => typeof ms === 'number' && ms > 59_000 && ms <= 60_000,
    );
    expect(index).toBeGreaterThanOrEqual(0);
    const timer = setTimeoutSpy.mock.results[index]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
  });
});
