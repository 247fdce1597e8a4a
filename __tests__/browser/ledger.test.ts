/**
 * A ledger record that is older than what every tab holds (its write failed, or landed out of
 * order) makes confirm() wait for a word nobody will ever send: every refresh times out.
 */
import { broadcastCoordinator } from '../../src/browser/index.js';
import { type Coordinator, createRefreshGate, memoryStore, type Tokens } from '../../src/index.js';
import { FakeIdb, installIdb } from './fake-idb.js';
import { FakeLocks, installBrowserGlobals } from './fakes.js';

const silent = { warn: jest.fn() };
const logger = { debug() {}, info() {}, warn() {}, error() {} };
let n = 0;

async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting until ${what}`);
}

describe('ledger record older than the scope', () => {
  let restore: Array<() => void> = [];
  const made: Coordinator[] = [];
  let idb: FakeIdb;
  beforeEach(() => {
    idb = new FakeIdb();
    restore = [installBrowserGlobals({ locks: new FakeLocks() }), installIdb(idb)];
  });
  afterEach(() => {
    for (const c of made.splice(0)) c.dispose?.();
    for (const r of restore.splice(0)) r();
  });

  it('a ledger write that failed once (quota) does not wedge every later refresh', async () => {
    const name = `stale-${++n}`;
    const store = memoryStore(); // shared, like localStorage
    let rotation = 0;
    const presented: Array<string | undefined> = [];
    const refresh = async ({ tokens }: { tokens: Tokens | null }) => {
      presented.push(tokens?.refreshToken);
      rotation++;
      return { accessToken: `a${rotation}`, refreshToken: `r${rotation}` };
    };
    const coordA = broadcastCoordinator({ name, logger: silent });
    const coordB = broadcastCoordinator({ name, logger: silent });
    made.push(coordA, coordB);
    const opts = { refresh, store, logger, refreshTimeoutMs: 1_500 };
    const a = createRefreshGate({ ...opts, coordinator: coordA });
    const b = createRefreshGate({ ...opts, coordinator: coordB });
    try {
      await a.setTokens({ accessToken: 'a0', refreshToken: 'r0' });
      await new Promise((r) => setTimeout(r, 50)); // ledger: fp(a0)
      // The origin's storage is full for a moment: this one write fails.
      idb.putFailure = new DOMException('quota', 'QuotaExceededError');
      await a.refresh(); // r0 -> a1/r1; ledger still fp(a0)
      expect(await b.getAccessToken()).toBe('a1');
      await new Promise((r) => setTimeout(r, 50));
      idb.putFailure = undefined; // storage healthy again

      // Both tabs hold a1/r1 (store, memory, announcement); the ledger says a0.
      const next = await b.refresh().then(
        (t) => t,
        (e: unknown) => e,
      );
      expect(next).toEqual({ accessToken: 'a2', refreshToken: 'r2' });
      expect(presented).toEqual(['r0', 'r1']);
      // and it is not a one-off: the next one fails the same way
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('a tab running the previous version (no ledger) rotating does not wedge the new tabs', async () => {
    const name = `old-${++n}`;
    const store = memoryStore();
    let rotation = 0;
    const refresh = async () => {
      rotation++;
      return { accessToken: `a${rotation}`, refreshToken: `r${rotation}` };
    };
    const coordNew = broadcastCoordinator({ name, logger: silent });
    made.push(coordNew);
    const opts = { refresh, store, logger, refreshTimeoutMs: 1_500 };
    const fresh = createRefreshGate({ ...opts, coordinator: coordNew });
    // An old-version tab: its coordinator has no ledger (built while indexedDB is absent).
    const scope = globalThis as Record<string, unknown>;
    const saved = scope.indexedDB;
    delete scope.indexedDB;
    const coordOld = broadcastCoordinator({ name, logger: silent });
    scope.indexedDB = saved;
    made.push(coordOld);
    const old = createRefreshGate({ ...opts, coordinator: coordOld });
    try {
      await fresh.setTokens({ accessToken: 'a0', refreshToken: 'r0' }); // ledger fp(a0)
      await new Promise((r) => setTimeout(r, 50));
      let heard: unknown;
      fresh.on('tokens:changed', (t) => {
        heard = t;
      });
      await old.refresh(); // a1, announced, ledger untouched
      await eventually(
        () => (heard as Tokens | undefined)?.accessToken === 'a1',
        'the new tab hears a1',
      );
      const next = await fresh.refresh().then(
        (t) => t,
        (e: unknown) => e,
      );
      expect(next).toEqual({ accessToken: 'a2', refreshToken: 'r2' });
    } finally {
      fresh.destroy();
      old.destroy();
    }
  });

  it('after a failed ledger write, the tab reloaded (or the only one left) can still refresh', async () => {
    const name = `reload-${++n}`;
    const store = memoryStore();
    let rotation = 0;
    const refresh = async () => {
      rotation++;
      return { accessToken: `a${rotation}`, refreshToken: `r${rotation}` };
    };
    const opts = { refresh, store, logger, refreshTimeoutMs: 8_000 };
    const coordA = broadcastCoordinator({ name, logger: silent });
    made.push(coordA);
    const a = createRefreshGate({ ...opts, coordinator: coordA });
    await a.setTokens({ accessToken: 'a0', refreshToken: 'r0' });
    await new Promise((r) => setTimeout(r, 50));
    idb.putFailure = new DOMException('quota', 'QuotaExceededError');
    await a.refresh(); // a1 stored; the ledger keeps fp(a0)
    idb.putFailure = undefined;
    a.destroy(); // the page reloads
    const coordR = broadcastCoordinator({ name, logger: silent });
    made.push(coordR);
    const reloaded = createRefreshGate({ ...opts, coordinator: coordR });
    try {
      const next = await reloaded.refresh().then(
        (t) => t,
        (e: unknown) => e,
      );
      expect(next).toEqual({ accessToken: 'a2', refreshToken: 'r2' });
    } finally {
      reloaded.destroy();
    }
  }, 20_000);
});

describe('a tab that never hears the word and whose store lags', () => {
  let restore: Array<() => void> = [];
  const made: Coordinator[] = [];
  beforeEach(() => {
    restore = [installBrowserGlobals({ locks: new FakeLocks() }), installIdb(new FakeIdb())];
  });
  afterEach(() => {
    for (const c of made.splice(0)) c.dispose?.();
    for (const r of restore.splice(0)) r();
  });

  it('never presents the rotated refresh token (and does not simply time out)', async () => {
    const name = `lag-${++n}`;
    const shared = memoryStore();
    const presented: Array<string | undefined> = [];
    let rotation = 0;
    const refresh = async ({ tokens }: { tokens: Tokens | null }) => {
      presented.push(tokens?.refreshToken);
      rotation++;
      return { accessToken: `a${rotation}`, refreshToken: `r${rotation}` };
    };
    const coordA = broadcastCoordinator({ name, logger: silent });
    made.push(coordA);
    const a = createRefreshGate({ refresh, store: shared, logger, coordinator: coordA });
    await a.setTokens({ accessToken: 'a0', refreshToken: 'r0' });
    await new Promise((r) => setTimeout(r, 50));
    // A tab opened now, whose localStorage still shows a0 for 2 s.
    const openedAt = Date.now();
    const lagging = {
      get: async () =>
        Date.now() - openedAt < 2_000 ? { accessToken: 'a0', refreshToken: 'r0' } : shared.get(),
      set: (t: Tokens) => shared.set(t),
      clear: () => shared.clear(),
    };
    await a.refresh(); // r0 -> a1/r1, ledger fp(a1); announced before the new tab exists
    await new Promise((r) => setTimeout(r, 50));
    a.destroy();
    const coordC = broadcastCoordinator({ name, logger: silent });
    made.push(coordC);
    const c = createRefreshGate({
      refresh,
      store: lagging,
      logger,
      coordinator: coordC,
      refreshTimeoutMs: 9_000,
    });
    try {
      const got = await c.refresh().then(
        (t) => t,
        (e: unknown) => e,
      );
      // r0 (rotated) is never presented again; the current r1 is (a manual refresh always refreshes)
      expect(presented).toEqual(['r0', 'r1']);
      expect(got).toEqual({ accessToken: 'a2', refreshToken: 'r2' });
    } finally {
      c.destroy();
    }
  }, 20_000);
});

describe('refreshTimeoutMs: 0 (no timeout) and a ledger record behind the scope', () => {
  let restore: Array<() => void> = [];
  const made: Coordinator[] = [];
  let idb: FakeIdb;
  beforeEach(() => {
    idb = new FakeIdb();
    restore = [installBrowserGlobals({ locks: new FakeLocks() }), installIdb(idb)];
  });
  afterEach(() => {
    for (const c of made.splice(0)) c.dispose?.();
    for (const r of restore.splice(0)) r();
  });

  it('the refresh (and every request waiting for it) still settles', async () => {
    const name = `never-${++n}`;
    const store = memoryStore();
    let rotation = 0;
    const refresh = async () => {
      rotation++;
      return { accessToken: `a${rotation}`, refreshToken: `r${rotation}` };
    };
    const coord = broadcastCoordinator({ name, logger: silent });
    made.push(coord);
    const gate = createRefreshGate({
      refresh,
      store,
      logger,
      coordinator: coord,
      refreshTimeoutMs: 0,
    });
    try {
      await gate.setTokens({ accessToken: 'a0', refreshToken: 'r0' });
      await new Promise((r) => setTimeout(r, 50));
      idb.putFailure = new DOMException('quota', 'QuotaExceededError');
      await gate.refresh();
      idb.putFailure = undefined;
      const outcome = await Promise.race([
        gate.refresh().then(
          (t) => t,
          (e: unknown) => e,
        ),
        new Promise((r) => setTimeout(() => r('still pending after 8 s'), 8_000)),
      ]);
      expect(outcome).toEqual({ accessToken: 'a2', refreshToken: 'r2' });
    } finally {
      gate.destroy();
    }
  }, 20_000);
});
