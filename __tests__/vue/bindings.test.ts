/**
 * `axios-refresh-gate/vue` without a DOM: the plugin installed on an app that is never mounted,
 * the composables run in its context (`app.runWithContext`) and in effect scopes, whose disposal
 * must stop every subscription.
 */
import axios from 'axios';
import { createApp, effectScope, watch } from 'vue';
import type { RefreshGateState } from '../../src/index.js';
import {
  createRefreshGatePlugin,
  refreshGateKey,
  useAccessToken,
  useApi,
  useGateState,
  useRefreshGate,
} from '../../src/vue/index.js';
import { flush } from '../helpers/deferred.js';
import { asyncStore, gatesHoldingA0, track } from '../helpers/gate-fixtures.js';

afterEach(() => {
  jest.restoreAllMocks();
  jest.useRealTimers();
});

const setup = gatesHoldingA0();

/** Vue's development build warns of inject() outside setup() and of writes to readonly refs. */
const quietWarnings = () => jest.spyOn(console, 'warn').mockImplementation(() => {});

describe('createRefreshGatePlugin', () => {
  it('provides the gate and the axios instance to the composables', () => {
    const { gate } = setup();
    const api = axios.create();
    const app = createApp({}).use(createRefreshGatePlugin(gate, { api }));
    const seen = app.runWithContext(() => ({
      gate: useRefreshGate(),
      api: useApi(),
      state: useGateState().value,
      token: useAccessToken().value,
    }));
    expect(seen).toEqual({ gate, api, state: gate.state, token: 'A0' });
    expect(seen.state).toBe(gate.state);
  });

  it('provides under refreshGateKey: what is provided there is what the composables use', () => {
    const { gate } = setup({ initialTokens: { accessToken: 'B0' } });
    const app = createApp({});
    app.provide(refreshGateKey, { gate, api: undefined });
    expect(app.runWithContext(() => [useRefreshGate(), useAccessToken().value])).toEqual([
      gate,
      'B0',
    ]);
  });

  it('without it, or without an instance, the composables throw a clear error', () => {
    const warn = quietWarnings();
    const { gate } = setup();
    const bare = createApp({});
    expect(() => bare.runWithContext(() => useRefreshGate())).toThrow(
      "useRefreshGate() needs app.use(createRefreshGatePlugin(gate)) and a component's setup() (or app.runWithContext())",
    );
    expect(() => bare.runWithContext(() => useGateState())).toThrow(/^useGateState\(\) needs/);
    expect(() => bare.runWithContext(() => useAccessToken())).toThrow(/^useAccessToken\(\) needs/);
    // Outside any setup() or app context, inject() finds nothing (and Vue warns).
    expect(() => useRefreshGate()).toThrow(/^useRefreshGate\(\) needs/);
    expect(warn).toHaveBeenCalled();
    const withoutApi = createApp({}).use(createRefreshGatePlugin(gate));
    expect(() => withoutApi.runWithContext(() => useApi())).toThrow(
      'useApi() needs app.use(createRefreshGatePlugin(gate, { api }))',
    );
  });
});

describe('useGateState', () => {
  it('follows every change with one snapshot per change, and stops when its scope is disposed', async () => {
    const { gate, control } = setup();
    const scope = effectScope();
    const state = scope.run(() => useGateState(gate))!;
    const seen: RefreshGateState[] = [];
    scope.run(() => watch(state, (value) => seen.push(value), { flush: 'sync' }));
    expect(state.value).toBe(gate.state);

    await gate.getAccessToken();
    expect(seen).toEqual([]);
    const refresh = track(gate.refresh());
    await flush();
    expect(state.value).toMatchObject({ status: 'refreshing' });
    control.call(0).result.resolve({ accessToken: 'A1', refreshToken: 'R1' });
    await flush();
    expect(refresh.status).toBe('fulfilled');
    expect(state.value).toBe(gate.state);
    expect(state.value).toMatchObject({ status: 'idle', refreshes: 1 });
    expect(seen.map((value) => value.status)).toEqual(['refreshing', 'idle']);

    scope.stop();
    const last = state.value;
    await gate.clear();
    expect(gate.state.signedIn).toBe(false);
    expect(state.value).toBe(last);
  });

  it('is readonly', () => {
    const warn = quietWarnings();
    const { gate } = setup();
    const state = useGateState(gate);
    const before = state.value;
    (state as { value: unknown }).value = { status: 'refreshing' };
    expect(state.value).toBe(before);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('readonly'), expect.anything());
  });

  it("follows a cooldown's end, which no event announces", async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { gate, control } = setup({ cooldownMs: 1000, refreshRetry: false });
    const scope = effectScope();
    const state = scope.run(() => useGateState(gate))!;
    const refresh = track(gate.refresh());
    await flush();
    control.call(0).result.reject(new Error('refresh failed'));
    await flush();
    expect(refresh.status).toBe('rejected');
    expect(state.value).toMatchObject({ status: 'cooldown', failures: 1 });
    jest.advanceTimersByTime(1000);
    expect(state.value).toMatchObject({ status: 'idle', failures: 1 });
    scope.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('outside a scope, follows the gate for its lifetime', async () => {
    const { gate } = setup();
    const state = useGateState(gate);
    await gate.clear();
    expect(state.value.signedIn).toBe(false);
  });
});

describe('useAccessToken', () => {
  it('follows logins, refreshes and logouts, and stops when its scope is disposed', async () => {
    const { gate, control } = setup();
    const scope = effectScope();
    const token = scope.run(() => useAccessToken(gate))!;
    expect(token.value).toBe('A0');
    await gate.setTokens({ accessToken: 'A1', refreshToken: 'R1' });
    expect(token.value).toBe('A1');
    const refresh = track(gate.refresh());
    await flush();
    control.call(0).result.resolve({ accessToken: 'A2', refreshToken: 'R2' });
    await flush();
    expect(refresh.status).toBe('fulfilled');
    expect(token.value).toBe('A2');
    await gate.clear();
    expect(token.value).toBeNull();

    scope.stop();
    await gate.setTokens({ accessToken: 'A3' });
    expect(token.value).toBeNull();
  });

  it("is undefined until an async store's first read answered", async () => {
    const async = asyncStore({ accessToken: 'S0' }, { get: 'manual' });
    const { gate } = setup({ store: async.store, initialTokens: undefined });
    const scope = effectScope();
    const token = scope.run(() => useAccessToken(gate))!;
    expect(token.value).toBeUndefined();
    const read = track(gate.getAccessToken());
    await flush();
    async.release();
    await flush();
    expect(read.value).toBe('S0');
    expect(token.value).toBe('S0');
    scope.stop();
  });
});
