// Rule 1, single flight: at most one refresh runs at a time per gate; with a coordinator, per
// coordinator scope.
import {
  attachRefreshGate,
  createRefreshGate,
  inProcessCoordinator,
  memoryStore,
  type RefreshContext,
  type Tokens,
} from '../../src/index.js';
import { deferred, flush } from '../helpers/deferred.js';
import {
  destroyAfterEach,
  fulfilled,
  mockApi,
  observe,
  watchUnhandledRejections,
} from '../helpers/mock-api.js';

const unhandled = watchUnhandledRejections();
const keep = destroyAfterEach();

const storm = <T>(get: () => Promise<T>, n: number) =>
  Array.from({ length: n }, () => observe(get()));

describe('rule 1: single flight', () => {
  it('runs one refresh for 20 concurrent 401s and replays all of them with its token', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const pending = deferred<Tokens>();
    const refresh = jest.fn((_ctx: RefreshContext) => pending.promise);
    const gate = keep(
      attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }),
    );
    const starts = jest.fn();
    gate.on('refresh:start', starts);

    const requests = storm(() => server.api.get('/data'), 20);
    await flush();

    expect(refresh).toHaveBeenCalledTimes(1);
    expect(starts).toHaveBeenCalledTimes(1);
    expect(gate.state.status).toBe('refreshing');
    expect(gate.state.waiting).toBe(20);
    expect(requests.some((request) => request.settled)).toBe(false);

    pending.resolve({ accessToken: 'A1' });
    for (const request of requests) {
      const response = await fulfilled(request);
      expect(response.data).toEqual({ url: '/data', token: 'A1' });
    }

    expect(refresh).toHaveBeenCalledTimes(1);
    expect(server.sentWith('A0')).toHaveLength(20);
    expect(server.sentWith('A1')).toHaveLength(20);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('joins manual refresh() calls and 401s into the same refresh', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const pending = deferred<Tokens>();
    const refresh = jest.fn((_ctx: RefreshContext) => pending.promise);
    const gate = keep(
      attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }),
    );

    const manual = [observe(gate.refresh()), observe(gate.refresh())];
    const requests = storm(() => server.api.get('/data'), 5);
    const third = observe(gate.refresh());
    await flush();

    expect(refresh).toHaveBeenCalledTimes(1);
    expect(refresh.mock.calls[0]?.[0].reason).toBe('manual');

    const tokens = { accessToken: 'A1' };
    pending.resolve(tokens);
    for (const call of [...manual, third]) expect(await fulfilled(call)).toEqual(tokens);
    for (const request of requests) await fulfilled(request);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });

  it('runs exactly one more refresh for a second storm after the first settled', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    let answer = deferred<Tokens>();
    const refresh = jest.fn((_ctx: RefreshContext) => answer.promise);
    // cooldownMs 0: a 401 on the token just obtained would otherwise end without a refresh (rule 6).
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A0' },
        cooldownMs: 0,
      }),
    );

    const first = storm(() => server.api.get('/data'), 10);
    await flush();
    answer.resolve({ accessToken: 'A1' });
    for (const request of first) await fulfilled(request);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.status).toBe('idle');

    // The server rotates its token; the next storm needs one refresh, and only one.
    server.token = 'A2';
    answer = deferred<Tokens>();
    const second = storm(() => server.api.get('/data'), 10);
    await flush();
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(gate.state.status).toBe('refreshing');
    expect(gate.state.waiting).toBe(10);

    answer.resolve({ accessToken: 'A2' });
    for (const request of second) {
      expect((await fulfilled(request)).data).toEqual({ url: '/data', token: 'A2' });
    }
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 2, failures: 0 });
  });

  it('keeps two gates separate: each refreshes once, neither waits for the other', async () => {
    const one = mockApi({ baseURL: 'https://one.test', token: 'B1' });
    const two = mockApi({ baseURL: 'https://two.test', token: 'C1' });
    const pendingOne = deferred<Tokens>();
    const pendingTwo = deferred<Tokens>();
    const refreshOne = jest.fn((_ctx: RefreshContext) => pendingOne.promise);
    const refreshTwo = jest.fn((_ctx: RefreshContext) => pendingTwo.promise);
    const gateOne = keep(
      attachRefreshGate(one.api, { refresh: refreshOne, initialTokens: { accessToken: 'B0' } }),
    );
    const gateTwo = keep(
      attachRefreshGate(two.api, { refresh: refreshTwo, initialTokens: { accessToken: 'C0' } }),
    );

    const stormOne = storm(() => one.api.get('/data'), 5);
    const stormTwo = storm(() => two.api.get('/data'), 5);
    await flush();

    // Both refreshes run at the same time: one gate's lock is not the other's.
    expect(refreshOne).toHaveBeenCalledTimes(1);
    expect(refreshTwo).toHaveBeenCalledTimes(1);
    expect(gateOne.state.status).toBe('refreshing');
    expect(gateTwo.state.status).toBe('refreshing');

    pendingTwo.resolve({ accessToken: 'C1' });
    for (const request of stormTwo) {
      expect((await fulfilled(request)).data).toEqual({ url: '/data', token: 'C1' });
    }
    // Gate two's token did not release gate one's requests.
    await flush();
    expect(stormOne.some((request) => request.settled)).toBe(false);
    expect(gateOne.state).toMatchObject({ status: 'refreshing', waiting: 5, refreshes: 0 });
    expect(gateTwo.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    expect(one.sentWith('C1')).toHaveLength(0);

    pendingOne.resolve({ accessToken: 'B1' });
    for (const request of stormOne) {
      expect((await fulfilled(request)).data).toEqual({ url: '/data', token: 'B1' });
    }
    expect(two.sentWith('B1')).toHaveLength(0);
    expect(refreshOne).toHaveBeenCalledTimes(1);
    expect(refreshTwo).toHaveBeenCalledTimes(1);
    expect(gateOne.state.waiting).toBe(0);
  });

  it('runs one refresh per coordinator scope: a second gate on the same scope adopts its tokens', async () => {
    const one = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const two = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const store = memoryStore({ accessToken: 'A0' });
    const coordinator = inProcessCoordinator();
    const pending = deferred<Tokens>();
    const refreshOne = jest.fn((_ctx: RefreshContext) => pending.promise);
    const refreshTwo = jest.fn(
      async (_ctx: RefreshContext): Promise<Tokens> => ({
        accessToken: 'X9',
      }),
    );
    const gateOne = keep(createRefreshGate({ refresh: refreshOne, store, coordinator }));
    const gateTwo = keep(createRefreshGate({ refresh: refreshTwo, store, coordinator }));
    gateOne.attach(one.api);
    gateTwo.attach(two.api);

    const stormOne = storm(() => one.api.get('/data'), 5);
    await flush();
    const stormTwo = storm(() => two.api.get('/data'), 5);
    await flush();

    // Gate two started its own attempt, but it waits for the scope's lock.
    expect(refreshOne).toHaveBeenCalledTimes(1);
    expect(refreshTwo).not.toHaveBeenCalled();
    expect(gateTwo.state.status).toBe('refreshing');

    pending.resolve({ accessToken: 'A1' });
    for (const request of [...stormOne, ...stormTwo]) {
      expect((await fulfilled(request)).data).toEqual({ url: '/data', token: 'A1' });
    }
    // Under the lock, gate two read the store again and found the stale token already replaced.
    expect(refreshTwo).not.toHaveBeenCalled();
    expect(two.sentWith('X9')).toHaveLength(0);
    expect(gateOne.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    expect(gateTwo.state).toMatchObject({ status: 'idle', waiting: 0, failures: 0 });
  });
});
