/**
 * The lease contract on the memory store, two dedupers on one store as two instances, under
 * jest's fake timers: `wait` advances them, so every outcome is exact.
 */
import {
  createRefreshDeduper,
  memoryDedupeStore,
  type RefreshDeduper,
} from '../../src/server/index.js';
import { leaseContract } from './dedupe-lease-contract.js';

let dedupers: RefreshDeduper[] = [];
let store: ReturnType<typeof memoryDedupeStore> | undefined;

afterEach(() => {
  for (const deduper of dedupers) deduper.dispose();
  dedupers = [];
  store?.dispose();
  store = undefined;
  // Nothing is left behind: no lease renewal, poll, wait or sweep timer.
  expect(jest.getTimerCount()).toBe(0);
  jest.useRealTimers();
});

leaseContract('memory store, fake timers', () => {
  jest.useFakeTimers();
  const shared = memoryDedupeStore();
  store = shared;
  // Each instance's dispose() must not clear the store the other one still uses.
  const handle = () => ({ ...shared, dispose: () => {} });
  return {
    instance(options) {
      const deduper = createRefreshDeduper({ ...options, store: handle() });
      dedupers.push(deduper);
      return deduper;
    },
    store: handle,
    wait: (ms) => jest.advanceTimersByTimeAsync(ms),
    async loseLease() {
      // The process is paused past the lease: the clock moves, no timer runs meanwhile.
      jest.setSystemTime(Date.now() + 1_000);
    },
  };
});
