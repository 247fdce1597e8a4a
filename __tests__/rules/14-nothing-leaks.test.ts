/**
 * Rule 14, nothing leaks: after a storm of mixed successes, aborts and failures the waiting set is
 * empty, every request settled exactly once, and no unhandled rejection was raised. (Jest 30 fails
 * the running test on an unhandled rejection, so any raised here fails the storm test itself.)
 */
import axios, { type AxiosRequestConfig } from 'axios';
import { createRefreshGate, isRefreshGateError, type RefreshGate } from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import {
  controlledRefresh,
  countedController,
  mockApi,
  type Tracked,
  track,
} from '../helpers/gate-fixtures.js';

/** A small seeded PRNG (mulberry32), so that every run of a seed is the same storm. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'plain' | 'abort-now' | 'abort-waiting' | 'cancel-waiting' | 'skip' | 'foreign';
const KINDS: Kind[] = [
  'plain',
  'plain',
  'abort-now',
  'abort-waiting',
  'cancel-waiting',
  'skip',
  'foreign',
];
type Outcome = 'success' | 'failure' | 'invalid' | 'non-error' | 'destroy';
const ROUNDS: Outcome[] = [
  'success',
  'failure',
  'invalid',
  'success',
  'non-error',
  'success',
  'destroy',
];

interface Sent {
  url: string;
  kind: Kind;
  round: number;
  tracked: Tracked<unknown>;
  listeners: () => number;
}

let gate: RefreshGate | undefined;
afterEach(() => {
  gate?.destroy();
  gate = undefined;
});

it.each([1, 2, 3, 42])('storm with seed %i leaves nothing behind', async (seed) => {
  const random = prng(seed);
  const server = mockApi('t0');
  const control = controlledRefresh();
  gate = createRefreshGate({
    refresh: control.refresh,
    initialTokens: { accessToken: 'stale', refreshToken: 'r' },
    cooldownMs: 0,
  });
  gate.attach(server.api);

  const all: Sent[] = [];
  const roundErrors: unknown[] = [];

  for (let round = 0; round < ROUNDS.length; round++) {
    server.current = `t${round}`;
    const toAbort: Array<() => void> = [];

    const fire = (count: number) => {
      for (let i = 0; i < count; i++) {
        const kind = KINDS[Math.floor(random() * KINDS.length)]!;
        const url =
          kind === 'foreign'
            ? `https://elsewhere.test/r${round}-${all.length}`
            : `/r${round}-${all.length}`;
        const config: AxiosRequestConfig = {};
        let listeners = () => 0;
        if (kind === 'abort-now' || kind === 'abort-waiting' || kind === 'plain') {
          const counted = countedController();
          config.signal = counted.signal;
          listeners = counted.listeners;
          if (kind === 'abort-now') counted.controller.abort();
          if (kind === 'abort-waiting') toAbort.push(() => counted.controller.abort());
        }
        if (kind === 'cancel-waiting') {
          const source = axios.CancelToken.source();
          config.cancelToken = source.token;
          toAbort.push(() => source.cancel('gone'));
        }
        if (kind === 'skip') config.skipAuthRefresh = true;
        all.push({ url, kind, round, tracked: track(server.api.get(url, config)), listeners });
      }
    };

    // Some go out with the stale token and queue on their 401; some arrive during the refresh
    // and are held; some are aborted or canceled while they wait.
    fire(8 + Math.floor(random() * 8));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(round + 1);
    fire(8 + Math.floor(random() * 8));
    await flush();
    for (const abort of toAbort.splice(0, Math.ceil(toAbort.length / 2))) abort();
    await flush();
    for (const abort of toAbort) abort();
    await flush();
    expect(gate.state.status).toBe('refreshing');

    const { result } = control.call(round);
    const outcome = ROUNDS[round];
    if (outcome === 'success') result.resolve({ accessToken: `t${round}`, refreshToken: 'r' });
    if (outcome === 'failure') result.reject(new Error(`refresh ${round} failed`));
    if (outcome === 'invalid') result.resolve('');
    if (outcome === 'non-error') result.reject('nope');
    if (outcome === 'destroy') gate.destroy();
    await flush(10);

    const inRound = all.filter((sent) => sent.round === round && sent.kind === 'plain');
    roundErrors[round] = inRound[0]?.tracked.error;
    expect(gate.state.waiting).toBe(0);
    expect(gate.state.status).not.toBe('refreshing');
  }

  const sendCounts = new Map<string, number>();
  for (const [url] of server.sent()) sendCounts.set(url, (sendCounts.get(url) ?? 0) + 1);
  for (const sent of all) {
    const { tracked, kind, round } = sent;
    const what = `${sent.url} (${kind}) in round ${round}`;
    expect([what, tracked.settlements]).toEqual([what, 1]);
    expect([what, sent.listeners()]).toEqual([what, 0]);
    // Never sent more than once plus one replay.
    expect(sendCounts.get(sent.url) ?? 0).toBeLessThanOrEqual(2);

    const outcome = ROUNDS[round];
    const error = tracked.error;
    switch (kind) {
      case 'abort-now':
      case 'abort-waiting':
      case 'cancel-waiting':
        expect([what, axios.isCancel(error)]).toEqual([what, true]);
        break;
      case 'skip':
      case 'foreign':
        expect([what, axios.isAxiosError(error) && error.response?.status]).toEqual([what, 401]);
        break;
      case 'plain':
        if (outcome === 'success') {
          expect([what, tracked.status]).toEqual([what, 'fulfilled']);
        } else if (outcome === 'destroy') {
          expect([what, isRefreshGateError(error) && error.code]).toEqual([what, 'DESTROYED']);
        } else {
          // Every waiter of a failed refresh rejects with that same error object.
          expect([what, tracked.status]).toEqual([what, 'rejected']);
          expect(error).toBe(roundErrors[round]);
          expect(error).toBeInstanceOf(Error);
        }
        break;
    }
  }
  expect(all.filter((s) => s.kind === 'plain').length).toBeGreaterThan(10);
  expect(gate.state.waiting).toBe(0);
});

it('removes its abort listener from a request that waited and then went out', async () => {
  const server = mockApi('new');
  const control = controlledRefresh();
  gate = createRefreshGate({ refresh: control.refresh, initialTokens: { accessToken: 'old' } });
  gate.attach(server.api);

  const queued = countedController();
  const held = countedController();
  const first = track(server.api.get('/queued', { signal: queued.signal }));
  await flush();
  const second = track(server.api.get('/held', { signal: held.signal }));
  await flush();
  expect(queued.listeners() + held.listeners()).toBe(2);

  control.call(0).result.resolve('new');
  await flush();
  expect([first.status, second.status]).toEqual(['fulfilled', 'fulfilled']);
  expect(queued.listeners()).toBe(0);
  expect(held.listeners()).toBe(0);
  expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
});

it('removes its abort listener from the waiters of a failed refresh', async () => {
  const server = mockApi('new');
  const control = controlledRefresh();
  gate = createRefreshGate({ refresh: control.refresh, initialTokens: { accessToken: 'old' } });
  gate.attach(server.api);

  const queued = countedController();
  const source = axios.CancelToken.source();
  const subscribe = jest.spyOn(source.token, 'subscribe');
  const unsubscribe = jest.spyOn(source.token, 'unsubscribe');
  const first = track(server.api.get('/queued', { signal: queued.signal }));
  await flush();
  const second = track(server.api.get('/held', { cancelToken: source.token }));
  await flush();
  expect(queued.listeners()).toBe(1);

  control.call(0).result.reject(new Error('down'));
  await flush();
  expect([first.status, second.status]).toEqual(['rejected', 'rejected']);
  expect(queued.listeners()).toBe(0);
  // The gate's own subscription to the CancelToken is gone again.
  const gateListeners = subscribe.mock.calls.map(([listener]) => listener);
  const removed = unsubscribe.mock.calls.map(([listener]) => listener);
  expect(gateListeners.every((listener) => removed.includes(listener))).toBe(true);
  expect(gateListeners.length).toBeGreaterThan(0);
});
