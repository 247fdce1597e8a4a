/**
 * Regressions of the parking of a group's idle gates, found by an adversarial review of it, each
 * failing before its fix: a parked gate must not miss what its scope announces (a peer's logout,
 * a peer's rotated tokens), a kept handle must not forget an async store's tokens, and forKey()
 * must give the same handle back after parking. Then, from a second review: subscriptions handed
 * from machine to machine, never dropped and made again.
 */
import axios, { type InternalAxiosRequestConfig } from 'axios';
import {
  type Coordinator,
  createRefreshGate,
  createRefreshGateGroup,
  inProcessCoordinator,
  memoryStore,
  type RefreshGateOptions,
  type TokenStore,
  type Tokens,
} from '../src/index.js';
import { flush } from './helpers/deferred.js';
import { authOf } from './helpers/gate-fixtures.js';
import { httpError } from './helpers/retry-fixtures.js';

afterEach(() => jest.useRealTimers());
const quiet = { debug() {}, warn() {} };
const fakeTime = () =>
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });

/** A group whose keys share `scope` with a peer gate of their own (each with its own memory store). */
const groupAndPeer = (
  scope: Coordinator,
  key: string | undefined,
  refresh: RefreshGateOptions['refresh'],
) => ({
  group: createRefreshGateGroup({
    key: () => key,
    store: () => memoryStore(),
    coordinator: () => scope,
    refresh,
    logger: quiet,
  }),
  peer: createRefreshGate({
    refresh: async () => null,
    store: memoryStore(),
    coordinator: scope,
    logger: quiet,
  }),
});

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
        throw httpError(401, {}, config);
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
    throw httpError(401, {}, config);
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

describe('subscriptions over park and revive cycles', () => {
  function counted() {
    let n = 0;
    const store: TokenStore = {
      ...memoryStore(),
      subscribe: () => {
        n++;
        let done = false;
        return () => {
          if (!done) n--;
          done = true;
        };
      },
    };
    let c = 0;
    const coordinator: Coordinator = {
      runExclusive: (fn) => fn(),
      publish() {},
      subscribe: () => {
        c++;
        let done = false;
        return () => {
          if (!done) c--;
          done = true;
        };
      },
    };
    return { store, coordinator, count: () => ({ store: n, coordinator: c }) };
  }

  it('no listener leaks over park/revive cycles and every way of dropping a parked key', async () => {
    fakeTime();
    const per = new Map<string, ReturnType<typeof counted>>();
    const of = (k: string) => {
      if (!per.has(k)) per.set(k, counted());
      return per.get(k)!;
    };
    const group = createRefreshGateGroup({
      key: () => undefined,
      store: (k) => of(k).store,
      coordinator: (k) => of(k).coordinator,
      refresh: async () => null,
      maxGates: 3,
      idleMs: 60_000,
      logger: quiet,
    });
    for (let i = 0; i < 5; i++) {
      await group.forKey('a').setTokens({ accessToken: `A${i}`, refreshToken: 'r' });
      await jest.advanceTimersByTimeAsync(16_000);
    }
    expect(of('a').count()).toEqual({ store: 1, coordinator: 1 });
    // handle.destroy() of a parked key
    const h = group.forKey('b');
    await jest.advanceTimersByTimeAsync(16_000);
    h.destroy();
    expect(of('b').count()).toEqual({ store: 0, coordinator: 0 });
    // eviction of a parked key
    group.forKey('c');
    await jest.advanceTimersByTimeAsync(16_000);
    group.forKey('d');
    group.forKey('e');
    group.forKey('f');
    expect(of('a').count()).toEqual({ store: 0, coordinator: 0 });
    // idleMs drop of a parked key
    await jest.advanceTimersByTimeAsync(70_000);
    expect([...per.values()].map((p) => p.count())).toEqual(
      [...per.keys()].map(() => ({ store: 0, coordinator: 0 })),
    );
    group.forKey('g');
    await jest.advanceTimersByTimeAsync(16_000);
    group.destroy();
    expect(of('g').count()).toEqual({ store: 0, coordinator: 0 });
  });
});

/**
 * Words heard while parked are replayed later, and the policy judges a heard token's refresh
 * window by the life it has left *when replayed*: a short-lived token a peer announced is then
 * refreshed later than by a gate that never parked.
 */
describe("words heard while parked: a token's life counts from when it was heard", () => {
  async function run(keepAwake: boolean) {
    fakeTime();
    const scope = inProcessCoordinator();
    const refresh = jest.fn(async () => ({
      accessToken: 'T3',
      refreshToken: 'R3',
      expiresAt: Date.now() + 3_600_000,
    }));
    const { group, peer } = groupAndPeer(scope, 'u', refresh);
    const api = axios.create({ baseURL: 'https://api.test' });
    const sent: string[] = [];
    api.defaults.adapter = async (config) => {
      sent.push(String(config.headers.Authorization));
      return { status: 200, statusText: '', headers: {}, config, data: 'ok' };
    };
    group.attach(api);
    await group
      .forKey('u')
      .setTokens({ accessToken: 'T1', refreshToken: 'R1', expiresAt: Date.now() + 3_600_000 });
    const tick = async (ms: number) => {
      for (let t = 0; t < ms; t += 4_000) {
        if (keepAwake) void group.forKey('u').state;
        await jest.advanceTimersByTimeAsync(4_000);
      }
    };
    await tick(16_000);
    // A peer logs in with a token of 40 s: heard now, its refresh window is 20 s (half its life).
    await peer.setTokens({ accessToken: 'T2', refreshToken: 'R2', expiresAt: Date.now() + 40_000 });
    await tick(24_000); // 16 s left: inside the window
    await api.get('/me');
    group.destroy();
    peer.destroy();
    return { refreshes: refresh.mock.calls.length, sent };
  }

  it('control (never parked): the token inside its window is refreshed first', async () => {
    expect(await run(true)).toEqual({ refreshes: 1, sent: ['Bearer T3'] });
  });

  it('parked meanwhile: the same', async () => {
    expect(await run(false)).toEqual({ refreshes: 1, sent: ['Bearer T3'] });
  });
});

/**
 * A parked gate revived from within a scope delivery (a peer's logout reaches app code, which
 * uses the group): the word being delivered is lost by the revived machine.
 */
describe("a gate revived inside the scope's delivery of a word hears that word", () => {
  async function run(idle: number) {
    fakeTime();
    const scope = inProcessCoordinator();
    // An observer in the scope that subscribed first (another gate of the account, say), whose
    // tokens:changed listener is app code that looks at the group's gate.
    const observer = createRefreshGate({
      refresh: async () => null,
      store: memoryStore(),
      coordinator: scope,
      logger: quiet,
    });
    const { group, peer } = groupAndPeer(scope, undefined, async () => null);
    await group.forKey('u').setTokens({ accessToken: 'T1', refreshToken: 'R1' });
    observer.on('tokens:changed', () => {
      void group.forKey('u').state; // revives a parked gate
    });
    await jest.advanceTimersByTimeAsync(idle);
    await peer.clear(); // a logout in the scope
    const held = group.forKey('u').tokens;
    group.destroy();
    peer.destroy();
    observer.destroy();
    return held;
  }

  it('control (no parking): the peer logout clears the key', async () => {
    expect(await run(1_000)).toBeNull();
  });

  it('parked, revived inside the delivery of the logout: the logout must not be lost', async () => {
    expect(await run(16_000)).toBeNull();
  });
});

/**
 * park() tears the machine down (state DESTROYED, listeners gone) before the parked listeners
 * subscribe: a subscribe that throws then escapes park(), and the sweep, with the key's entry
 * still pointing at the dead machine and no sweep armed again.
 */
describe('a store whose subscribe throws', () => {
  it('a store whose subscribe throws at park time leaves a live key, not a DESTROYED one', async () => {
    fakeTime();
    let calls = 0;
    const store: TokenStore = {
      ...memoryStore(),
      subscribe: () => {
        // e.g. a channel that is momentarily unavailable
        if (++calls === 2) throw new Error('subscribe failed');
        return () => {};
      },
    };
    const group = createRefreshGateGroup({
      key: () => undefined,
      store: () => store,
      refresh: async () => null,
      logger: quiet,
    });
    await group.forKey('u').setTokens({ accessToken: 'T1', refreshToken: 'R1' });
    let swept: unknown;
    try {
      await jest.advanceTimersByTimeAsync(16_000);
    } catch (error) {
      swept = error;
    }
    const got = await group
      .forKey('u')
      .getAccessToken()
      .then(
        (t) => t,
        (e: { code?: string }) => e.code ?? e,
      );
    expect({ swept, got }).toEqual({ swept: undefined, got: 'T1' });
    group.destroy();
  });
});
