import {
  type Coordinator,
  createRefreshGateGroup,
  memoryStore,
  type TokenStore,
} from '../src/index.js';

afterEach(() => jest.useRealTimers());
const quiet = { debug() {}, warn() {} };

function counted() {
  let n = 0;
  const base = memoryStore();
  const store: TokenStore = {
    get: () => base.get(),
    set: (t) => base.set(t),
    clear: () => base.clear(),
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
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
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
