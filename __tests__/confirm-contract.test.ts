/** A custom coordinator whose confirm() resolves with something that is not tokens (a PONG, a 1). */
import {
  type Coordinator,
  createRefreshGate,
  memoryStore,
  type RefreshContext,
} from '../src/index.js';

it('a confirm() that resolves with a non-token value does not make the refresh present no tokens', async () => {
  const coordinator: Coordinator = {
    runExclusive: (fn) =>
      (fn as (lock: unknown) => Promise<unknown>)({
        signal: new AbortController().signal,
        // e.g. written as `confirm: () => redis.pexpire(key, ttl)` by a JavaScript user
        confirm: async () => 1,
      }) as never,
  };
  const seen: unknown[] = [];
  const gate = createRefreshGate({
    store: memoryStore(),
    coordinator,
    initialTokens: { accessToken: 'a0', refreshToken: 'r0' },
    refresh: async ({ tokens }: RefreshContext) => {
      seen.push(tokens);
      return { accessToken: 'a1', refreshToken: 'r1' };
    },
  });
  try {
    await gate.refresh();
    expect(seen).toEqual([{ accessToken: 'a0', refreshToken: 'r0' }]);
  } finally {
    gate.destroy();
  }
});
