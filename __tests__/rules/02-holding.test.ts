// Rule 2, holding: while a refresh runs, new requests through any attached instance wait at the
// gate and are sent afterwards with the new token; none goes out with the old one.
import {
  attachRefreshGate,
  createRefreshGate,
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

describe('rule 2: holding', () => {
  it('holds requests issued during a manual refresh and sends them with the new token only', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const pending = deferred<Tokens>();
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh: () => pending.promise,
        initialTokens: { accessToken: 'A0' },
      }),
    );

    const manual = observe(gate.refresh());
    await flush();
    const requests = Array.from({ length: 5 }, (_, i) => observe(server.api.get(`/item/${i}`)));
    await flush();

    expect(server.sent).toHaveLength(0);
    expect(gate.state).toMatchObject({ status: 'refreshing', waiting: 5 }); // rule 18: a pending refresh() call is not counted
    expect(requests.some((request) => request.settled)).toBe(false);

    pending.resolve({ accessToken: 'A1' });
    await fulfilled(manual);
    for (const [i, request] of requests.entries()) {
      expect((await fulfilled(request)).data).toEqual({ url: `/item/${i}`, token: 'A1' });
    }
    expect(server.sent).toHaveLength(5);
    expect(server.sentWith('A0')).toHaveLength(0);
    expect(server.sentWith('A1')).toHaveLength(5);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('holds requests issued during a refresh that a 401 started', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const pending = deferred<Tokens>();
    const refresh = jest.fn((_ctx: RefreshContext) => pending.promise);
    const gate = keep(
      attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }),
    );

    const trigger = observe(server.api.get('/first'));
    await flush();
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(server.sent).toEqual([{ method: 'GET', url: '/first', token: 'A0' }]);

    const later = Array.from({ length: 5 }, () => observe(server.api.get('/later')));
    await flush();
    // Only the trigger went out: the later ones wait at the gate instead of 401-ing with A0.
    expect(server.sent).toHaveLength(1);
    expect(gate.state.waiting).toBe(6);

    pending.resolve({ accessToken: 'A1' });
    await fulfilled(trigger);
    for (const request of later) {
      expect((await fulfilled(request)).data).toEqual({ url: '/later', token: 'A1' });
    }
    expect(server.sentTo('/later').map((request) => request.token)).toEqual(Array(5).fill('A1'));
    expect(server.sentWith('A0')).toEqual([{ method: 'GET', url: '/first', token: 'A0' }]);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });

  it('shares the hold between every instance the gate is attached to', async () => {
    const one = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const two = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const three = mockApi({ baseURL: 'https://other.test', token: 'A1' });
    const pending = deferred<Tokens>();
    const refresh = jest.fn((_ctx: RefreshContext) => pending.promise);
    const gate = keep(createRefreshGate({ refresh, initialTokens: { accessToken: 'A0' } }));
    gate.attach(one.api);
    gate.attach(two.api);
    gate.attach(three.api);

    const trigger = observe(one.api.get('/data'));
    await flush();
    expect(refresh).toHaveBeenCalledTimes(1);

    const onTwo = [observe(two.api.get('/data')), observe(two.api.post('/data', { x: 1 }))];
    const onThree = [observe(three.api.get('/data'))];
    await flush();
    expect(two.sent).toHaveLength(0);
    expect(three.sent).toHaveLength(0);
    expect(gate.state.waiting).toBe(4);

    pending.resolve({ accessToken: 'A1' });
    await fulfilled(trigger);
    for (const request of [...onTwo, ...onThree]) {
      expect((await fulfilled(request)).data).toEqual({ url: '/data', token: 'A1' });
    }
    expect(two.sent.map((request) => request.token)).toEqual(['A1', 'A1']);
    expect(three.sent.map((request) => request.token)).toEqual(['A1']);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.waiting).toBe(0);
  });

  it('sends a held request with the token the refresh produced, not one read before it', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const pending = deferred<string>();
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh: () => pending.promise,
        initialTokens: { accessToken: 'A0', refreshToken: 'R0' },
      }),
    );

    const manual = observe(gate.refresh());
    const held = observe(server.api.get('/data', { headers: { 'X-Trace': 't' } }));
    await flush();
    pending.resolve('A1');
    await fulfilled(manual);

    const response = await fulfilled(held);
    expect(response.config.headers.Authorization).toBe('Bearer A1');
    expect(response.config.headers['X-Trace']).toBe('t');
    expect(server.sent).toEqual([{ method: 'GET', url: '/data', token: 'A1' }]);
    expect(gate.state.waiting).toBe(0);
  });
});
