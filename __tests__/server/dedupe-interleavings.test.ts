/**
 * The deduper under random interleavings: several calls on one or two instances (dedupers sharing
 * one memory store), with one or two keys, whose rotations succeed, fail, hang, or settle at any
 * time relative to waitTimeoutMs, leaseMs and maxRotationMs. Jest's fake timers drive time, and
 * fast-check's scheduler decides the order in which the store's answers and the rotations'
 * outcomes that are due at one instant arrive. After each run:
 * - at most one rotation per key is alive at any time (alive: called, and neither settled nor
 *   given up, which `rotate`'s signal tells);
 * - every call settled, exactly once, within waitTimeoutMs + maxRotationMs;
 * - no call got a result from a rotation that failed or was given up;
 * - no unhandled rejection, and no timer left once the dedupers are disposed.
 * PROPERTY_RUNS overrides the number of runs.
 */
import { runInThisContext } from 'node:vm';
import fc from 'fast-check';
import {
  createRefreshDeduper,
  type DedupeStore,
  memoryDedupeStore,
} from '../../src/server/index.js';

const numRuns = Number(process.env.PROPERTY_RUNS ?? 300);

type Behaviour = { kind: 'ok' | 'fail'; ms: number } | { kind: 'hang' };
interface Call {
  at: number;
  instance: 0 | 1;
  key: 'a' | 'b';
  behaviour: Behaviour;
}

const behaviourArb: fc.Arbitrary<Behaviour> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('ok' as const, 'fail' as const),
    ms: fc.integer({ min: 0, max: 120 }),
  }),
  fc.constant({ kind: 'hang' as const }),
);
const callArb: fc.Arbitrary<Call> = fc.record({
  at: fc.integer({ min: 0, max: 200 }),
  instance: fc.constantFrom(0 as const, 1 as const),
  key: fc.constantFrom('a' as const, 'b' as const),
  behaviour: behaviourArb,
});
const optionsArb = fc.record({
  waitTimeoutMs: fc.integer({ min: 0, max: 80 }),
  leaseMs: fc.integer({ min: 3, max: 60 }),
  maxRotationMs: fc.integer({ min: 1, max: 150 }),
  graceMs: fc.integer({ min: 0, max: 60 }),
});

// Jest's sandbox gets a copy of `process` that never hears 'unhandledRejection'; the process Node
// emits on is the `process` of the main context.
const hostProcess = runInThisContext('process') as NodeJS.Process;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => {
  unhandled.push(reason);
};

beforeAll(() => {
  hostProcess.on('unhandledRejection', onUnhandled);
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
});

afterAll(() => {
  jest.useRealTimers();
  hostProcess.off('unhandledRejection', onUnhandled);
});

/** What the runs went through, so that a run of nothing does not pass for a run of everything. */
const seen = { rotations: 0, givenUp: 0, served: 0, failed: 0, tooLong: 0, twoInstances: 0 };

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

it('keeps one live rotation per key, settles every call once, never serves an abandoned rotation', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.scheduler(),
      fc.array(callArb, { minLength: 1, maxLength: 8 }),
      optionsArb,
      async (s, calls, options) => {
        jest.clearAllTimers();
        unhandled.length = 0;
        const violations: string[] = [];
        const shared = memoryDedupeStore();
        // The store does its work at once; its answers arrive in the order the scheduler picks.
        const store: DedupeStore = {
          claim: (hash, leaseMs) => s.schedule(shared.claim(hash, leaseMs), 'claim'),
          renew: (hash, token, leaseMs) => s.schedule(shared.renew(hash, token, leaseMs), 'renew'),
          fulfil: (hash, token, value, graceMs) =>
            s.schedule(shared.fulfil(hash, token, value, graceMs), 'fulfil'),
          abandon: (hash, token) => s.schedule(shared.abandon(hash, token), 'abandon'),
          watch: (hash, onChange) => shared.watch(hash, onChange),
        };
        const dedupers = [
          createRefreshDeduper({ ...options, store }),
          createRefreshDeduper({ ...options, store }),
        ];

        const alive = new Map<string, number>();
        const servable = new Set<string>(); // rotations that succeeded before they were given up
        let rotations = 0;
        const outcomes = calls.map(() => ({
          settled: 0,
          at: 0,
          value: undefined as unknown,
          error: undefined as unknown,
        }));

        calls.forEach((call, i) => {
          setTimeout(() => {
            const rotate = (signal: AbortSignal) => {
              const id = `${call.key}#${++rotations}`;
              seen.rotations++;
              if ((alive.get(call.key) ?? 0) > 0) {
                violations.push(`${id} started while another rotation of ${call.key} was alive`);
              }
              alive.set(call.key, (alive.get(call.key) ?? 0) + 1);
              let over = false;
              const end = () => {
                if (over) return false;
                over = true;
                alive.set(call.key, (alive.get(call.key) ?? 1) - 1);
                return true;
              };
              // (Optional chaining only so that a deduper that passes no signal fails on the
              // invariants, not on a TypeError.)
              signal?.addEventListener('abort', () => {
                if (end()) seen.givenUp++;
              });
              return new Promise<{ id: string; key: string }>((resolve, reject) => {
                const { behaviour } = call;
                if (behaviour.kind === 'hang') return;
                setTimeout(() => {
                  void s.schedule(Promise.resolve(), `${id} ${behaviour.kind}`).then(() => {
                    // A late outcome of a given-up rotation still arrives: it must not be served.
                    if (end() && behaviour.kind === 'ok') servable.add(id);
                    if (behaviour.kind === 'ok') resolve({ id, key: call.key });
                    else reject(new Error(`${id} failed`));
                  });
                }, behaviour.ms);
              });
            };
            const outcome = outcomes[i]!;
            const started = Date.now();
            dedupers[call.instance]!.dedupe(call.key, rotate).then(
              (value) => {
                outcome.settled++;
                outcome.at = Date.now() - started;
                outcome.value = value;
              },
              (error: unknown) => {
                outcome.settled++;
                outcome.at = Date.now() - started;
                outcome.error = error;
              },
            );
          }, call.at);
        });

        // Release what is due now in the scheduler's order, then move to the next timer.
        for (let step = 0; ; step++) {
          await s.waitAll();
          await turn();
          if (s.count() > 0) continue;
          if (jest.getTimerCount() === 0) break;
          if (step > 50_000) {
            violations.push('timers never stopped');
            break;
          }
          await jest.advanceTimersToNextTimerAsync();
        }

        if (new Set(calls.map((call) => call.instance)).size === 2) seen.twoInstances++;
        const bound = options.waitTimeoutMs + options.maxRotationMs;
        outcomes.forEach((outcome, i) => {
          const call = calls[i]!;
          if (outcome.settled !== 1) {
            violations.push(`call ${i} settled ${outcome.settled} times`);
            return;
          }
          if (outcome.at > bound) {
            violations.push(`call ${i} settled after ${outcome.at} ms > ${bound}`);
          }
          if (outcome.error === undefined) {
            seen.served++;
            const value = outcome.value as { id: string; key: string };
            if (!servable.has(value.id)) violations.push(`call ${i} got ${value.id}, not servable`);
            if (value.key !== call.key) violations.push(`call ${i} (${call.key}) got ${value.id}`);
          } else if ((outcome.error as Error).name === 'RefreshDedupeError') {
            seen.tooLong++;
            // Time passes only with the timers here, so every renewal comes in time.
            if (/\(leaseMs\)/.test((outcome.error as Error).message)) {
              violations.push(`call ${i} lost its lease`);
            }
          } else seen.failed++;
        });
        for (const deduper of dedupers) deduper.dispose();
        shared.dispose();
        await turn();
        if (jest.getTimerCount() !== 0) violations.push(`${jest.getTimerCount()} timers left`);
        if (unhandled.length > 0) violations.push(`unhandled rejections: ${unhandled.map(String)}`);
        if (violations.length > 0)
          throw new Error(
            `${violations.join('\n')}\n${s
              .report()
              .map((task) => task.label)
              .join(', ')}`,
          );
      },
    ),
    { numRuns },
  );
  for (const count of Object.values(seen)) expect(count).toBeGreaterThan(0);
}, 10_000);
