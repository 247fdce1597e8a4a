import { runInThisContext } from 'node:vm';
import axios from 'axios';
import MockAdapter from 'axios-mock-adapter';
import fc from 'fast-check';
import type { RefreshContext, Tokens } from '../../src/index.js';
import { attachRefreshGate, isRefreshGateError, memoryStore } from '../../src/index.js';

// Rules 1-4, 7-9 and 14 under random schedules. fast-check's scheduler decides when each command
// runs, when each server reply arrives, when each refresh settles, when each abort fires and when
// time moves on; the invariants are checked after every run. PROPERTY_RUNS overrides the number of
// runs (CI keeps the default, 1,000).
const numRuns = Number(process.env.PROPERTY_RUNS ?? 1000);

const REFRESH_TIMEOUT_MS = 1_000;

type Command =
  | { kind: 'request'; abort: boolean }
  | { kind: 'expire' }
  | { kind: 'tick'; ms: number };
type RefreshOutcome = 'success' | 'failure' | 'hang';

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    // A quarter of the requests carry an AbortController, aborted at a point the scheduler picks.
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      abort: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('expire' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      ms: fc.integer({ min: 0, max: 2_500 }),
    }),
  },
);

/** Lets every microtask run, then one macrotask turn: what the last step set off has played out. */
const settleTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Releases scheduled tasks until none is left. A step releases one to three tasks in the same tick
 * (two 401s racing through the response interceptor, a reply racing a refresh outcome), then lets
 * everything they set off play out and calls `afterStep`.
 */
async function drain(
  s: fc.Scheduler,
  batches: readonly number[],
  afterStep: () => void,
): Promise<void> {
  for (let step = 0; ; step++) {
    await settleTurn();
    afterStep();
    const count = s.count();
    if (count === 0) return;
    const size = Math.min(count, batches[step % batches.length] ?? 1);
    // waitOne releases its task synchronously, so these are released together; waitNext would
    // space them out by microtask turns.
    await Promise.all(Array.from({ length: size }, () => s.waitOne()));
  }
}

// Jest's sandbox gets a copy of `process` that never hears 'unhandledRejection'; the process Node
// emits on is the `process` of the main context.
const hostProcess = runInThisContext('process') as NodeJS.Process;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => {
  unhandled.push(reason);
};

beforeAll(() => {
  hostProcess.on('unhandledRejection', onUnhandled);
  // The gate reads time through wrapper arrows, so fake timers drive refreshTimeoutMs and
  // cooldownMs; setImmediate stays real so that `drain` can wait for axios' promise chains.
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
});

afterAll(() => {
  jest.useRealTimers();
  hostProcess.off('unhandledRejection', onUnhandled);
});

it(
  'keeps its invariants under random schedules of requests, expiries, refresh outcomes and aborts',
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(commandArb, { minLength: 1, maxLength: 24, size: 'medium' }),
        fc.array(fc.constantFrom<RefreshOutcome>('success', 'failure', 'hang'), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 2 }),
        fc.constantFrom(0, 1_000),
        fc.boolean(),
        async (s, commands, outcomes, batches, maxReplays, cooldownMs, startExpired) => {
          jest.clearAllTimers();
          unhandled.length = 0;
          const violations: string[] = [];
          const store = memoryStore();
          const api = axios.create({ baseURL: 'https://api.test' });
          const mock = new MockAdapter(api);

          // ---- the refresh: its outcome settles when the scheduler says so ---------------------
          let serverToken = startExpired ? 't0-expired' : 't0';
          let issued = 0;
          let running = 0;
          let refreshCalls = 0;
          const refreshErrors = new Set<unknown>();
          const refresh = ({ signal }: RefreshContext) => {
            const n = ++refreshCalls;
            const outcome = outcomes[n - 1] ?? 'success';
            if (running > 0) violations.push(`refresh #${n} was called while another ran`);
            running++;
            return new Promise<string>((resolve, reject) => {
              let done = false;
              const end = () => {
                done = true;
                running--;
                signal.removeEventListener('abort', onAbort);
              };
              // A well-behaved refresh passes ctx.signal to its HTTP call, which rejects on abort.
              const onAbort = () => {
                if (done) return;
                end();
                reject(signal.reason);
              };
              signal.addEventListener('abort', onAbort);
              if (outcome === 'hang') {
                // Only refreshTimeoutMs ends it; the scheduler decides when that much time has passed.
                void s
                  .schedule(Promise.resolve(), `refresh #${n} hangs: ${REFRESH_TIMEOUT_MS} ms pass`)
                  .then(() => jest.advanceTimersByTime(REFRESH_TIMEOUT_MS));
                return;
              }
              void s.schedule(Promise.resolve(), `refresh #${n} ${outcome}`).then(() => {
                if (done) return;
                end();
                if (outcome === 'success') {
                  serverToken = `t${++issued}`;
                  resolve(serverToken);
                } else {
                  const error = new Error(`refresh #${n} failed`);
                  refreshErrors.add(error);
                  reject(error);
                }
              });
            });
          };

          const gate = attachRefreshGate(api, {
            refresh,
            store,
            initialTokens: { accessToken: 't0' },
            maxReplays,
            cooldownMs,
            refreshTimeoutMs: REFRESH_TIMEOUT_MS,
            queueTimeoutMs: 0,
            logger: { debug: () => {}, warn: () => {} },
          });

          // Rule 1 as the gate reports it: no refresh starts before the previous one ended.
          let started = 0;
          let ended = 0;
          gate.on('refresh:start', () => {
            if (started > ended) violations.push(`refresh #${started + 1} started while one ran`);
            started++;
          });
          gate.on('refresh:success', () => ended++);
          gate.on('refresh:failure', () => ended++);

          // ---- the server: answers 200 only to its current token --------------------------------
          const sentWith = new Map<string, string[]>();
          /** For a request issued while a refresh ran: how many refreshes had ended by then. */
          const heldSince = new Map<string, number>();
          const atServer = new Set<string>();
          const aborted = new Set<string>();
          mock.onGet(/^\/r\/\d+$/).reply(async (config) => {
            const url = config.url ?? '';
            // Rule 9: an aborted request is never sent (again).
            if (aborted.has(url)) violations.push(`${url} was sent after its abort`);
            const auth = String(config.headers?.Authorization);
            const sends = sentWith.get(url) ?? [];
            sentWith.set(url, [...sends, auth]);
            // Rules 2-4: every send, first or replay, carries the newest token the client holds.
            // memoryStore answers synchronously.
            const newest = `Bearer ${(store.get() as Tokens | null)?.accessToken}`;
            if (auth !== newest) violations.push(`${url} sent with ${auth}; newest is ${newest}`);
            // Rule 7: a replay never repeats the token its previous send was refused with.
            if (sends.length > 0 && auth === sends[sends.length - 1]) {
              violations.push(`${url} replayed with the token it was refused with (${auth})`);
            }
            // Rule 2: a request issued during a refresh is held until that refresh ended.
            const since = heldSince.get(url);
            if (sends.length === 0 && since !== undefined && ended === since) {
              violations.push(
                `${url} reached the server before the refresh it was issued during ended`,
              );
            }
            const ok = auth === `Bearer ${serverToken}`;
            atServer.add(url);
            await s.schedule(Promise.resolve(), `reply ${url} ${ok ? 200 : 401}`);
            atServer.delete(url);
            return ok ? [200, { url }] : [401, { error: 'invalid_token' }];
          });

          // ---- the commands, in order, interleaved with everything else by the scheduler ----------
          const settlements: number[] = [];
          /** Checks to run once the current step has played out. */
          let afterStep: Array<() => void> = [];
          const expectedFailure = (error: unknown): boolean =>
            axios.isCancel(error) ||
            (isRefreshGateError(error) &&
              (error.code === 'REFRESH_TIMEOUT' || error.code === 'COOLDOWN')) ||
            refreshErrors.has(error) ||
            (axios.isAxiosError(error) && error.response?.status === 401);
          const issue = (abort: boolean) => {
            const id = settlements.length;
            const url = `/r/${id}`;
            settlements.push(0);
            if (gate.state.status === 'refreshing') heldSince.set(url, ended);
            const controller = abort ? new AbortController() : undefined;
            api.get(url, controller ? { signal: controller.signal } : {}).then(
              (response) => {
                settlements[id] = (settlements[id] ?? 0) + 1;
                if (response.status !== 200)
                  violations.push(`${url} resolved with ${response.status}`);
              },
              (error: unknown) => {
                settlements[id] = (settlements[id] ?? 0) + 1;
                if (!expectedFailure(error))
                  violations.push(`${url} rejected with ${String(error)}`);
              },
            );
            if (controller) {
              void s.schedule(Promise.resolve(), `abort ${url}`).then(() => {
                // Rule 9: one that is not at the server (waiting at the gate, in axios' pipeline,
                // or waiting for a refresh after its 401) settles at once.
                const waiting = settlements[id] === 0 && !atServer.has(url);
                aborted.add(url);
                controller.abort();
                if (!waiting) return;
                afterStep.push(() => {
                  if (settlements[id] === 0) violations.push(`${url} did not settle on its abort`);
                });
              });
            }
          };
          s.scheduleSequence(
            commands.map((command) => ({
              label: command.kind === 'tick' ? `tick ${command.ms} ms` : command.kind,
              builder: async () => {
                if (command.kind === 'request') issue(command.abort);
                else if (command.kind === 'expire') serverToken = `${serverToken}-expired`;
                else jest.advanceTimersByTime(command.ms);
              },
            })),
          );

          await drain(s, batches, () => {
            for (const check of afterStep) check();
            afterStep = [];
          });
          await settleTurn();

          // ---- invariants at the end of the run ----------------------------------------------------
          settlements.forEach((count, id) => {
            if (count !== 1) violations.push(`/r/${id} settled ${count} times`);
            const sends =
              mock.history.get?.filter((config) => config.url === `/r/${id}`).length ?? 0;
            if (sends - 1 > maxReplays) {
              violations.push(`/r/${id} replayed ${sends - 1} times (maxReplays ${maxReplays})`);
            }
          });
          if (running !== 0) violations.push(`${running} refresh call(s) still running`);
          if (gate.state.waiting !== 0) violations.push(`${gate.state.waiting} still waiting`);
          if (gate.state.status === 'refreshing') violations.push('the gate is still refreshing');
          if (jest.getTimerCount() !== 0) violations.push(`${jest.getTimerCount()} timer(s) left`);
          for (const reason of unhandled) violations.push(`unhandled rejection: ${String(reason)}`);
          gate.destroy();
          mock.restore();
          expect(violations).toEqual([]);
        },
      ),
      { numRuns },
    );
    // ~10 ms a run on 2 cores; the margin is for loaded CI machines.
  },
  Math.max(60_000, numRuns * 60),
);
