/**
 * park() tears the machine down (state DESTROYED, listeners gone) before the parked listeners
 * subscribe: a subscribe that throws then escapes park(), and the sweep, with the key's entry
 * still pointing at the dead machine and no sweep armed again.
 */
import { createRefreshGateGroup, memoryStore, type TokenStore } from '../src/index.js';

afterEach(() => jest.useRealTimers());
const quiet = { debug() {}, warn() {} };

it('a store whose subscribe throws at park time leaves a live key, not a DESTROYED one', async () => {
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  let calls = 0;
  const base = memoryStore();
  const store: TokenStore = {
    get: () => base.get(),
    set: (t) => base.set(t),
    clear: () => base.clear(),
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
