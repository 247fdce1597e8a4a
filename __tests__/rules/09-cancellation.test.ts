/**
 * Rule 9, cancellation: a waiting request whose AbortSignal fires (or CancelToken) rejects with
 * axios' CanceledError at once, leaves the queue and is never sent. axios-auth-refresh and axios-jwt
 * reject an aborted held request only when the refresh ends; here it rejects while the refresh is
 * still pending.
 */
import axios from 'axios';
import { createRefreshGate, type RefreshGate } from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import {
  controlledRefresh,
  countedController,
  type MockApi,
  mockApi,
  track,
} from '../helpers/gate-fixtures.js';

let gate: RefreshGate;
let server: MockApi;
let control: ReturnType<typeof controlledRefresh>;

beforeEach(() => {
  server = mockApi('new');
  control = controlledRefresh();
  gate = createRefreshGate({
    refresh: control.refresh,
    initialTokens: { accessToken: 'old', refreshToken: 'r1' },
  });
  gate.attach(server.api);
});

afterEach(() => {
  gate.destroy();
});

const sentTo = (url: string) => server.sent().filter(([sent]) => sent === url);

describe('a request held during a refresh', () => {
  it('rejects with CanceledError as soon as its signal aborts, before the refresh settles', async () => {
    const manual = track(gate.refresh());
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);

    const { controller, signal, listeners } = countedController();
    const aborted = track(server.api.get('/a', { signal }));
    const other = track(server.api.get('/b'));
    await flush();
    expect(gate.state.waiting).toBe(2); // the two requests (rule 18: refresh() is not counted)
    expect(listeners()).toBe(1);

    controller.abort();
    await flush();

    // The refresh is still pending, yet the aborted request has already rejected.
    expect(gate.state.status).toBe('refreshing');
    expect(aborted.status).toBe('rejected');
    expect(axios.isCancel(aborted.error)).toBe(true);
    expect(gate.state.waiting).toBe(1);
    expect(listeners()).toBe(0);
    expect(other.status).toBe('pending');
    expect(control.call(0).ctx.signal.aborted).toBe(false);

    control.call(0).result.resolve('new');
    await flush();
    expect(manual.status).toBe('fulfilled');
    expect(other.status).toBe('fulfilled');
    expect(sentTo('/b')).toEqual([['/b', 'Bearer new']]);
    expect(sentTo('/a')).toEqual([]);
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1 });
  });

  it('rejects at once when its signal was aborted before it reached the gate', async () => {
    track(gate.refresh());
    await flush();
    const before = gate.state.waiting;

    const request = track(server.api.get('/a', { signal: AbortSignal.abort() }));
    await flush();

    expect(gate.state.status).toBe('refreshing');
    expect(request.status).toBe('rejected');
    expect(axios.isCancel(request.error)).toBe(true);
    expect(gate.state.waiting).toBe(before);

    control.call(0).result.resolve('new');
    await flush();
    expect(sentTo('/a')).toEqual([]);
  });

  it('rejects with the cancel reason as soon as its CancelToken is canceled', async () => {
    track(gate.refresh());
    await flush();

    const source = axios.CancelToken.source();
    const canceled = track(server.api.get('/a', { cancelToken: source.token }));
    const other = track(server.api.get('/b'));
    await flush();
    expect(gate.state.waiting).toBe(2); // rule 18: a pending refresh() call is not counted

    source.cancel('user left the page');
    await flush();

    expect(gate.state.status).toBe('refreshing');
    expect(canceled.status).toBe('rejected');
    expect(axios.isCancel(canceled.error)).toBe(true);
    expect((canceled.error as Error).message).toBe('user left the page');
    expect(gate.state.waiting).toBe(1);

    control.call(0).result.resolve('new');
    await flush();
    expect(other.status).toBe('fulfilled');
    expect(sentTo('/a')).toEqual([]);
    expect(sentTo('/b')).toEqual([['/b', 'Bearer new']]);
  });

  it('rejects at once when its CancelToken was canceled before it reached the gate', async () => {
    track(gate.refresh());
    await flush();
    const before = gate.state.waiting;

    const source = axios.CancelToken.source();
    source.cancel('too late');
    const request = track(server.api.get('/a', { cancelToken: source.token }));
    await flush();

    expect(gate.state.status).toBe('refreshing');
    expect(request.status).toBe('rejected');
    expect(axios.isCancel(request.error)).toBe(true);
    expect(gate.state.waiting).toBe(before);
  });
});

describe('a request queued after a 401', () => {
  it('rejects with CanceledError as soon as its signal aborts and is never replayed', async () => {
    const { controller, signal, listeners } = countedController();
    const aborted = track(server.api.get('/a', { signal }));
    const other = track(server.api.get('/b'));
    await flush();

    // Both went out with the old token, got 401 and now wait for the one refresh.
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(control.call(0).ctx.reason).toBe('unauthorized');
    expect(gate.state.waiting).toBe(2);
    expect(listeners()).toBe(1);

    controller.abort();
    await flush();

    expect(gate.state.status).toBe('refreshing');
    expect(aborted.status).toBe('rejected');
    expect(axios.isCancel(aborted.error)).toBe(true);
    expect(gate.state.waiting).toBe(1);
    expect(listeners()).toBe(0);
    expect(control.call(0).ctx.signal.aborted).toBe(false);

    control.call(0).result.resolve('new');
    await flush();
    expect(other.status).toBe('fulfilled');
    // /a went out once (the 401) and was never replayed; /b was replayed with the new token.
    expect(sentTo('/a')).toEqual([['/a', 'Bearer old']]);
    expect(sentTo('/b')).toEqual([
      ['/b', 'Bearer old'],
      ['/b', 'Bearer new'],
    ]);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1 });
  });

  it('rejects with the cancel reason as soon as its CancelToken is canceled', async () => {
    const source = axios.CancelToken.source();
    const canceled = track(server.api.get('/a', { cancelToken: source.token }));
    const other = track(server.api.get('/b'));
    await flush();
    expect(gate.state.waiting).toBe(2);

    source.cancel('navigated away');
    await flush();

    expect(gate.state.status).toBe('refreshing');
    expect(canceled.status).toBe('rejected');
    expect(axios.isCancel(canceled.error)).toBe(true);
    expect(gate.state.waiting).toBe(1);

    control.call(0).result.resolve('new');
    await flush();
    expect(other.status).toBe('fulfilled');
    expect(sentTo('/a')).toEqual([['/a', 'Bearer old']]);
  });

  it('does not cancel the refresh when every waiting request is aborted', async () => {
    const controllers = [new AbortController(), new AbortController()];
    const requests = controllers.map((c, i) =>
      track(server.api.get(`/r${i}`, { signal: c.signal })),
    );
    await flush();
    expect(gate.state.waiting).toBe(2);

    for (const c of controllers) c.abort();
    await flush();
    expect(requests.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(gate.state).toMatchObject({ status: 'refreshing', waiting: 0 });
    expect(control.call(0).ctx.signal.aborted).toBe(false);

    // The refresh still lands: the next request uses its token without another refresh.
    control.call(0).result.resolve('new');
    await flush();
    await expect(server.api.get('/after')).resolves.toMatchObject({ status: 200 });
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(sentTo('/after')).toEqual([['/after', 'Bearer new']]);
  });
});
