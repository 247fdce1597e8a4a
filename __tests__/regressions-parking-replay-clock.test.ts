/**
 * Words heard while parked are replayed later, and the policy judges a heard token's refresh
 * window by the life it has left *when replayed*: a short-lived token a peer announced is then
 * refreshed later than by a gate that never parked.
 */
import axios from 'axios';
import {
  createRefreshGate,
  createRefreshGateGroup,
  inProcessCoordinator,
  memoryStore,
} from '../src/index.js';

afterEach(() => jest.useRealTimers());
const quiet = { debug() {}, warn() {} };

async function run(keepAwake: boolean) {
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  const scope = inProcessCoordinator();
  const refresh = jest.fn(async () => ({
    accessToken: 'T3',
    refreshToken: 'R3',
    expiresAt: Date.now() + 3_600_000,
  }));
  const group = createRefreshGateGroup({
    key: () => 'u',
    store: () => memoryStore(),
    coordinator: () => scope,
    refresh,
    logger: quiet,
  });
  const peer = createRefreshGate({
    refresh: async () => null,
    store: memoryStore(),
    coordinator: scope,
    logger: quiet,
  });
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
