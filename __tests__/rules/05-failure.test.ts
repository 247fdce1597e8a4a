// Rule 5, failure: if the refresh fails, every waiting request rejects with that same error object;
// onRefreshFailed and refresh:failure fire once. Tokens are left as they were. (axios-auth-refresh
// rejects the queued requests with their own 401 instead.)
import axios, { type AxiosError, isAxiosError } from 'axios';
import MockAdapter from 'axios-mock-adapter';
import {
  createRefreshGate,
  memoryStore,
  type RefreshContext,
  type Tokens,
} from '../../src/index.js';
import { deferred, flush } from '../helpers/deferred.js';
import {
  destroyAfterEach,
  mockApi,
  observe,
  rejected,
  watchUnhandledRejections,
} from '../helpers/mock-api.js';

const unhandled = watchUnhandledRejections();
const keep = destroyAfterEach();

/** A gate on two instances, with a refresh held open, and 401'd requests queued on it. */
async function failingSetup(options: { cooldownMs?: number } = {}) {
  const one = mockApi({ baseURL: 'https://api.test', token: 'A1' });
  const two = mockApi({ baseURL: 'https://api.test', token: 'A1' });
  const initial: Tokens = { accessToken: 'A0', refreshToken: 'R0' };
  const store = memoryStore();
  const pending = deferred<Tokens>();
  const refresh = jest.fn((_ctx: RefreshContext) => pending.promise);
  const onRefreshFailed = jest.fn();
  const gate = keep(
    createRefreshGate({ refresh, store, initialTokens: initial, onRefreshFailed, ...options }),
  );
  gate.attach(one.api);
  gate.attach(two.api);
  const failures = jest.fn();
  gate.on('refresh:failure', failures);

  // Queued: 401'd with A0 on both instances.
  const queued = [
    ...Array.from({ length: 3 }, () => observe(one.api.get('/data'))),
    ...Array.from({ length: 2 }, () => observe(two.api.get('/data'))),
  ];
  await flush();
  // Held: issued while the refresh runs, on both instances, plus the gate's own waiters.
  const held = [
    observe(one.api.get('/later')),
    observe(two.api.post('/later', { x: 1 })),
    observe(gate.refresh()),
    observe(gate.getAccessToken()),
  ];
  await flush();
  expect(refresh).toHaveBeenCalledTimes(1);
  // Rule 18: a pending refresh() call waits for the refresh itself and is not counted.
  expect(gate.state.waiting).toBe(queued.length + held.length - 1);
  return {
    one,
    two,
    initial,
    store,
    pending,
    refresh,
    onRefreshFailed,
    gate,
    failures,
    queued,
    held,
  };
}

describe('rule 5: failure', () => {
  it('rejects every queued and held request, on every instance, with the very same error', async () => {
    const setup = await failingSetup();
    const failure = new Error('refresh endpoint said no');

    setup.pending.reject(failure);

    for (const waiter of [...setup.queued, ...setup.held]) {
      expect(await rejected(waiter)).toBe(failure);
    }
    // The held requests were never sent; the queued ones were sent once, not replayed.
    expect(setup.one.sentTo('/later')).toHaveLength(0);
    expect(setup.two.sentTo('/later')).toHaveLength(0);
    expect(setup.one.sent).toHaveLength(3);
    expect(setup.two.sent).toHaveLength(2);
    expect(setup.refresh).toHaveBeenCalledTimes(1);
    expect(setup.gate.state.waiting).toBe(0);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('rejects them with the refresh call’s AxiosError, not with their own 401', async () => {
    const one = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const auth = axios.create({ baseURL: 'https://auth.test' });
    new MockAdapter(auth).onPost('/token').reply(400, { error: 'invalid_grant' });
    let refreshError: unknown;
    const go = deferred<void>();
    const gate = keep(
      createRefreshGate({
        refresh: async ({ signal }) => {
          await go.promise;
          try {
            return (await auth.post<Tokens>('/token', {}, { signal })).data;
          } catch (error) {
            refreshError = error;
            throw error;
          }
        },
        initialTokens: { accessToken: 'A0' },
      }),
    );
    gate.attach(one.api);

    const requests = Array.from({ length: 4 }, () => observe(one.api.get('/data')));
    await flush();
    expect(gate.state.waiting).toBe(4);
    go.resolve();
    const reasons = await Promise.all(requests.map((request) => rejected(request)));

    expect(isAxiosError(refreshError)).toBe(true);
    expect((refreshError as AxiosError).response?.status).toBe(400);
    for (const reason of reasons) {
      expect(reason).toBe(refreshError);
      expect((reason as AxiosError).response?.status).not.toBe(401);
    }
    expect(gate.state.waiting).toBe(0);
  });

  it('calls onRefreshFailed and emits refresh:failure exactly once, with that error', async () => {
    const setup = await failingSetup();
    const failure = new Error('refresh endpoint said no');

    setup.pending.reject(failure);
    await Promise.all([...setup.queued, ...setup.held].map((waiter) => waiter.result));
    await flush();

    expect(setup.onRefreshFailed).toHaveBeenCalledTimes(1);
    expect(setup.onRefreshFailed).toHaveBeenCalledWith(failure, { terminal: true });
    expect(setup.failures).toHaveBeenCalledTimes(1);
    expect(setup.failures.mock.calls[0]?.[0]).toMatchObject({ error: failure });
  });

  it('leaves the stored tokens as they were', async () => {
    const setup = await failingSetup();
    const changes = jest.fn();
    setup.gate.on('tokens:changed', changes);

    setup.pending.reject(new Error('nope'));
    await Promise.all([...setup.queued, ...setup.held].map((waiter) => waiter.result));

    expect(setup.store.get()).toEqual(setup.initial);
    expect(changes).not.toHaveBeenCalled();
    expect(await setup.gate.getAccessToken()).toBe('A0');
  });

  it('returns to cooldown (default) with nothing waiting, counting one failure', async () => {
    const setup = await failingSetup();
    setup.pending.reject(new Error('nope'));
    await Promise.all([...setup.queued, ...setup.held].map((waiter) => waiter.result));

    expect(setup.gate.state).toMatchObject({
      status: 'cooldown',
      waiting: 0,
      refreshes: 0,
      failures: 1,
    });
  });

  it('returns to idle with nothing waiting when cooldownMs is 0', async () => {
    const setup = await failingSetup({ cooldownMs: 0 });
    setup.pending.reject(new Error('nope'));
    await Promise.all([...setup.queued, ...setup.held].map((waiter) => waiter.result));

    expect(setup.gate.state).toMatchObject({
      status: 'idle',
      waiting: 0,
      refreshes: 0,
      failures: 1,
    });
  });
});
