/**
 * Interleavings a third, short review found (after 38d3b22): the lock a timed-out flight keeps
 * while its write lands must not be kept forever or past destroy(), and a held request must not
 * refresh in a loop when the store shows the new tokens only later. Each failed on 38d3b22.
 */
import {
  createRefreshGate,
  inProcessCoordinator,
  isRefreshGateError,
  memoryStore,
  type RefreshContext,
  type TokenStore,
  type Tokens,
} from '../src/index.js';
import { flush } from './helpers/deferred.js';
import { destroyAfterEach, useFakeClock, watchUnhandledRejections } from './helpers/mock-api.js';

watchUnhandledRejections();
const keep = destroyAfterEach();
afterEach(() => jest.useRealTimers());
const codeOf = (e: unknown) => (isRefreshGateError(e) ? e.code : String(e));
const OLD: Tokens = { accessToken: 'A0', refreshToken: 'r0' };

/** Gate A's refresh succeeds, its write to an async store never settles, refreshTimeoutMs fires. */
async function hungWriter() {
  useFakeClock();
  const coordinator = inProcessCoordinator();
  let current: Tokens | null = OLD;
  const hung: TokenStore = {
    get: async () => current,
    set: () => new Promise<void>(() => {}), // a write that never lands (dead connection)
    clear: async () => {
      current = null;
    },
  };
  const gateA = keep(
    createRefreshGate({
      refresh: async () => ({ accessToken: 'R1', refreshToken: 'r1' }),
      store: hung,
      coordinator,
      refreshTimeoutMs: 1_000,
    }),
  );
  const refreshB = jest.fn(async (_ctx: RefreshContext) => ({
    accessToken: 'B1',
    refreshToken: 'b1',
  }));
  const gateB = keep(
    createRefreshGate({
      refresh: refreshB,
      store: memoryStore(OLD),
      coordinator,
      refreshTimeoutMs: 1_000,
    }),
  );
  const a = gateA.refresh().then(undefined, codeOf);
  await jest.advanceTimersByTimeAsync(1_000);
  expect(await a).toBe('REFRESH_TIMEOUT');
  return { gateA, gateB, refreshB };
}

describe('a third review: the lock kept through a late write, and a store that applies writes later (rules 1, 6, 13)', () => {
  it('R1 destroy() of a gate whose timed-out flight is still storing releases the coordinator lock', async () => {
    const { gateA, gateB, refreshB } = await hungWriter();
    gateA.destroy();
    const b = gateB.refresh().then((t) => t.accessToken, codeOf);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(refreshB).toHaveBeenCalledTimes(1);
    expect(await b).toBe('B1');
  });

  it('R2 a store write that never lands does not keep the lock (and every later refresh) forever', async () => {
    const { gateB, refreshB } = await hungWriter();
    await jest.advanceTimersByTimeAsync(60_000); // long past refreshTimeoutMs
    const b = gateB.refresh().then((t) => t.accessToken, codeOf);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await b).toBe('B1');
    expect(refreshB).toHaveBeenCalledTimes(1);
  });

  it('R4 a held request does not refresh in a loop when the store does not show the new tokens at once', async () => {
    // A sync store whose set applies later (React setState, a deferred Redux dispatch): get() still
    // shows the expired token right after the write.
    let current: Tokens | null = {
      accessToken: 'E0',
      refreshToken: 'e0',
      expiresAt: Date.now() - 1_000,
    };
    const store: TokenStore = {
      get: () => current,
      set: (t) => {
        setTimeout(() => {
          current = t;
        }, 50);
      },
      clear: () => {
        current = null;
      },
    };
    let n = 0;
    const refresh = jest.fn(async () => {
      if (n >= 20) throw new Error('stop: looping'); // a cap so the loop cannot hang the test
      return {
        accessToken: `N${++n}`,
        refreshToken: `n${n}`,
        expiresAt: Date.now() + 600_000,
      };
    });
    const gate = keep(createRefreshGate({ refresh, store }));
    const token = gate.getAccessToken().then(undefined, codeOf);
    await flush(3);
    const calls = refresh.mock.calls.length;
    gate.destroy();
    await token;
    expect(calls).toBe(1);
  });
});
