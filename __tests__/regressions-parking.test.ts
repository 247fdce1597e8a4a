/**
 * Regressions of the parking of a group's idle gates, found by an adversarial review of it, each
 * failing before its fix: a parked gate must not miss what its scope announces (a peer's logout,
 * a peer's rotated tokens), a kept handle must not forget an async store's tokens, and forKey()
 * must give the same handle back after parking.
 */
import axios, { type InternalAxiosRequestConfig } from 'axios';
import {
  createRefreshGate,
  createRefreshGateGroup,
  inProcessCoordinator,
  memoryStore,
  type TokenStore,
  type Tokens,
} from '../src/index.js';
import { flush } from './helpers/deferred.js';
import { authOf } from './helpers/gate-fixtures.js';

afterEach(() => jest.useRealTimers());
const fakeTime = () =>
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });

async function scenario(idle: number, chatter = 0) {
  fakeTime();
  const scope = inProcessCoordinator();
  const shared = memoryStore();
  let current = 'T1';
  const replays: string[] = [];
  const refresh = jest.fn(async () => null);
  const group = createRefreshGateGroup({
    key: (config) => (config.headers.get('x-user') as string | undefined) ?? undefined,
    store: () => shared,
    coordinator: () => scope,
    refresh,
    logger: { debug() {}, warn() {} },
  });
  const peer = createRefreshGate({
    refresh,
    store: shared,
    coordinator: scope,
    logger: { debug() {}, warn() {} },
  });
  const api = axios.create({ baseURL: 'https://api.test' });
  group.attach(api);
  await group.forKey('u').setTokens({ accessToken: 'T1', refreshToken: 'R1' });
  let answer!: () => void;
  const out = api
    .get('/slow', {
      headers: { 'x-user': 'u' },
      adapter: async (config: InternalAxiosRequestConfig) => {
        if (Number((config as { refreshGateReplays?: number }).refreshGateReplays ?? 0) > 0) {
          replays.push(String(authOf(config)));
          return { status: 200, statusText: '', headers: {}, config, data: 'replayed' };
        }
        await new Promise<void>((resolve) => {
          answer = resolve;
        });
        throw new axios.AxiosError('401', 'ERR_BAD_REQUEST', config, null, {
          status: 401,
          statusText: '',
          headers: {},
          config,
          data: {},
        });
      },
    })
    .then(
      (r) => r.data,
      (e: unknown) => (axios.isAxiosError(e) ? (e.response?.status ?? e.code) : e),
    );
  await flush();
  await jest.advanceTimersByTimeAsync(idle);
  // Elsewhere in the scope: a logout, then another user's... the same user's new login.
  await peer.clear();
  // More words than a parked gate keeps: the logout falls out of them, and still counts.
  for (let i = 0; i < chatter; i++)
    await peer.setTokens({ accessToken: `C${i}`, refreshToken: `RC${i}` });
  current = 'T2';
  await peer.setTokens({ accessToken: current, refreshToken: 'R2' });
  answer();
  await flush();
  await jest.advanceTimersByTimeAsync(0);
  await flush();
  const result = await out;
  group.destroy();
  peer.destroy();
  return { result, replays };
}

it('control (no parking): a request of the session a peer cleared is not replayed (rule 17)', async () => {
  const { result, replays } = await scenario(1_000);
  expect(replays).toEqual([]);
  expect(result).toBe(401);
});

it("parked: the same request must not be replayed with the next session's token either", async () => {
  const { result, replays } = await scenario(16_000);
  expect(replays).toEqual([]);
  expect(result).toBe(401);
});

async function rotation(idle: number) {
  fakeTime();
  const scope = inProcessCoordinator();
  const refreshedWith: string[] = [];
  let serverToken = 'T1';
  const group = createRefreshGateGroup({
    key: (config) => (config.headers.get('x-user') as string | undefined) ?? undefined,
    store: () => memoryStore(),
    coordinator: () => scope,
    refresh: async ({ tokens }) => {
      refreshedWith.push(String(tokens?.refreshToken));
      return null;
    },
    logger: { debug() {}, warn() {} },
  });
  const peer = createRefreshGate({
    store: memoryStore(),
    coordinator: scope,
    refresh: async () => {
      serverToken = 'T2';
      return { accessToken: 'T2', refreshToken: 'R2' } as Tokens;
    },
    logger: { debug() {}, warn() {} },
  });
  const api = axios.create({ baseURL: 'https://api.test' });
  const sent: string[] = [];
  api.defaults.adapter = async (config) => {
    sent.push(String(authOf(config)));
    if (authOf(config) === `Bearer ${serverToken}`)
      return { status: 200, statusText: '', headers: {}, config, data: 'ok' };
    throw new axios.AxiosError('401', 'ERR_BAD_REQUEST', config, null, {
      status: 401,
      statusText: '',
      headers: {},
      config,
      data: {},
    });
  };
  group.attach(api);
  await group.forKey('u').setTokens({ accessToken: 'T1', refreshToken: 'R1' });
  await peer.setTokens({ accessToken: 'T1', refreshToken: 'R1' });
  await jest.advanceTimersByTimeAsync(idle);
  // The peer refreshes (the server rotates R1 away) and announces T2 to the scope.
  await peer.refresh();
  const result = await api.get('/me', { headers: { 'x-user': 'u' } }).then(
    (r) => r.data,
    (e: unknown) => (axios.isAxiosError(e) ? e.response?.status : e),
  );
  group.destroy();
  peer.destroy();
  return { result, sent, refreshedWith };
}

it('parked: a logout among more words than the parked gate keeps still ends that session', async () => {
  const { result, replays } = await scenario(16_000, 20);
  expect(replays).toEqual([]);
  expect(result).toBe(401);
});

it('control (no parking): tokens a peer announced are used, no refresh with the rotated-out token', async () => {
  const r = await rotation(1_000);
  expect(r).toEqual({ result: 'ok', sent: ['Bearer T2'], refreshedWith: [] });
});

it('parked: tokens a peer announced while parked are used too', async () => {
  const r = await rotation(16_000);
  expect(r).toEqual({ result: 'ok', sent: ['Bearer T2'], refreshedWith: [] });
});

const asyncStore = (): TokenStore => {
  let tokens: Tokens | null = null;
  return {
    get: async () => tokens,
    set: async (next) => {
      tokens = next;
    },
    clear: async () => {
      tokens = null;
    },
  };
};

it('a kept handle of a signed-in key with an async store still says so after the gate parked', async () => {
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  const group = createRefreshGateGroup({
    key: (config) => (config.headers.get('x-user') as string | undefined) ?? undefined,
    store: () => asyncStore(),
    refresh: async () => null,
    logger: { debug() {}, warn() {} },
  });
  group.attach(axios.create());
  const handle = group.forKey('u');
  await handle.setTokens({ accessToken: 'T1', refreshToken: 'R1' });
  expect(handle.tokens).toEqual({ accessToken: 'T1', refreshToken: 'R1' });
  expect(handle.state.signedIn).toBe(true);
  await jest.advanceTimersByTimeAsync(16_000);
  const tokens = handle.tokens;
  const signedIn = handle.state.signedIn;
  expect({ tokens, signedIn }).toEqual({
    tokens: { accessToken: 'T1', refreshToken: 'R1' },
    signedIn: true,
  });
  group.destroy();
});

it('forKey(key) gives the same handle while the key is in the group', async () => {
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  const group = createRefreshGateGroup({
    key: () => undefined,
    store: () => asyncStore(),
    refresh: async () => null,
  });
  const first = group.forKey('u');
  await jest.advanceTimersByTimeAsync(16_000);
  expect(group.forKey('u')).toBe(first);
  group.destroy();
});
