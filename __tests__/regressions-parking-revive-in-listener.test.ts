/**
 * A parked gate revived from within a scope delivery (a peer's logout reaches app code, which
 * uses the group): the word being delivered is lost by the revived machine.
 */
import {
  createRefreshGate,
  createRefreshGateGroup,
  inProcessCoordinator,
  memoryStore,
} from '../src/index.js';

afterEach(() => jest.useRealTimers());
const quiet = { debug() {}, warn() {} };

async function run(idle: number) {
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  const scope = inProcessCoordinator();
  // An observer in the scope that subscribed first (another gate of the account, say), whose
  // tokens:changed listener is app code that looks at the group's gate.
  const observer = createRefreshGate({
    refresh: async () => null,
    store: memoryStore(),
    coordinator: scope,
    logger: quiet,
  });
  const group = createRefreshGateGroup({
    key: () => undefined,
    store: () => memoryStore(),
    coordinator: () => scope,
    refresh: async () => null,
    logger: quiet,
  });
  const peer = createRefreshGate({
    refresh: async () => null,
    store: memoryStore(),
    coordinator: scope,
    logger: quiet,
  });
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
