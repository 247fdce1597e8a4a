/**
 * The contract: "Every entry point (core, browser, redis, server) throws this one class for its own
 * errors: a bad option anywhere is INVALID_OPTIONS; a destroyed gate anywhere is DESTROYED." One
 * table over every factory of every subpath, with the message shape they all share.
 */
import type Redis from 'ioredis';
import { broadcastCoordinator, webStorageStore } from '../src/browser/index.js';
import {
  type Coordinator,
  createRefreshGate,
  isRefreshGateError,
  RefreshGateError,
} from '../src/index.js';
import { redisCoordinator, redisStore } from '../src/redis/index.js';
import { createRefreshDeduper, type DedupeStore, redisDedupeStore } from '../src/server/index.js';
import { FakeLocks, FakeStorage, installBrowserGlobals } from './browser/fakes.js';

const refresh = async () => 'token';
// Enough of an ioredis client to pass validation; no test here reaches a command.
const client = Object.fromEntries(
  ['eval', 'get', 'set', 'del', 'publish', 'duplicate'].map((name) => [
    name,
    () => {
      throw new Error(`${name} must not be called`);
    },
  ]),
) as unknown as Redis;
const signal = () => new AbortController().signal;

function thrown(make: () => unknown): unknown {
  try {
    make();
  } catch (error) {
    return error;
  }
  throw new Error('expected it to throw');
}

describe('a bad option anywhere is INVALID_OPTIONS, naming the option', () => {
  it.each<[string, string, () => unknown]>([
    ['core', 'cooldownMs', () => createRefreshGate({ refresh, cooldownMs: -1 })],
    ['core', 'header', () => createRefreshGate({ refresh, header: 'X Auth' })],
    ['browser', 'name', () => broadcastCoordinator({ name: '' })],
    ['browser', 'logger', () => broadcastCoordinator({ logger: {} as Console })],
    ['browser', 'storage', () => webStorageStore(null as unknown as Storage)],
    ['browser', 'key', () => webStorageStore(new FakeStorage(), '')],
    ['redis', 'lockTtlMs', () => redisCoordinator({ client, key: 'k', lockTtlMs: 1 })],
    ['redis', 'client', () => redisStore({ client: {} as Redis, key: 'k' })],
    ['redis', 'key', () => redisStore({ client, key: '' })],
    ['server', 'graceMs', () => createRefreshDeduper({ graceMs: -1 })],
    ['server', 'waitTimeoutMs', () => createRefreshDeduper({ waitTimeoutMs: Number.NaN })],
    ['server', 'store', () => createRefreshDeduper({ store: {} as DedupeStore })],
    ['server', 'client', () => redisDedupeStore({ client: {} as Redis })],
    ['server', 'prefix', () => redisDedupeStore({ client, prefix: 5 as unknown as string })],
  ])('%s: `%s`', (_, name, make) => {
    const error = thrown(make);
    expect(error).toBeInstanceOf(RefreshGateError);
    expect(isRefreshGateError(error) && error.code).toBe('INVALID_OPTIONS');
    expect((error as Error).message).toMatch(
      new RegExp(`^Expected \`${name}\` to be .+, got \`.*\` \\((\\w+)\\)$`),
    );
  });
});

describe('a call on a destroyed gate or a disposed adapter anywhere is DESTROYED', () => {
  let restore = () => {};
  afterEach(() => restore());

  const cases: Array<[string, () => Promise<unknown>]> = [
    [
      'core: gate.refresh() after destroy()',
      () => {
        const gate = createRefreshGate({ refresh });
        gate.destroy();
        return gate.refresh();
      },
    ],
    [
      'browser: broadcastCoordinator.runExclusive() after dispose()',
      () => {
        restore = installBrowserGlobals({ locks: new FakeLocks() });
        const coordinator: Coordinator = broadcastCoordinator({ logger: { warn: () => {} } });
        coordinator.dispose!();
        return coordinator.runExclusive(async () => 'ran', { signal: signal(), timeoutMs: 0 });
      },
    ],
    [
      'redis: redisCoordinator.runExclusive() after dispose()',
      () => {
        const coordinator = redisCoordinator({ client, key: 'k' });
        coordinator.dispose!();
        return coordinator.runExclusive(async () => 'ran', { signal: signal(), timeoutMs: 0 });
      },
    ],
    [
      'server: deduper.dedupe() after dispose()',
      () => {
        const deduper = createRefreshDeduper();
        deduper.dispose();
        return deduper.dedupe('r1', async () => 'ran');
      },
    ],
  ];

  it.each(cases)('%s', async (_, call) => {
    const error = await call().then(
      () => new Error('expected it to reject'),
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(RefreshGateError);
    expect(isRefreshGateError(error) && error.code).toBe('DESTROYED');
  });
});
