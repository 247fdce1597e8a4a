// Rule 4, stale answers: a triggering response to a request sent with a token that is no longer
// current is replayed with the current token; no new refresh starts. (axios-auth-refresh starts a
// second refresh for a 401 that arrives after the first one finished.)
import type { AxiosError } from 'axios';
import {
  attachRefreshGate,
  memoryStore,
  type RefreshContext,
  type Tokens,
} from '../../src/index.js';
import { type Deferred, deferred, flush } from '../helpers/deferred.js';
import {
  authorized,
  destroyAfterEach,
  fulfilled,
  type MockApi,
  mockApi,
  observe,
  rejected,
  watchUnhandledRejections,
} from '../helpers/mock-api.js';

const unhandled = watchUnhandledRejections();
const keep = destroyAfterEach();

/**
 * `/slow` answers requests sent with `token` only when `release` resolves. A gate that loops gets a
 * 500 after 30 sends, so that its test fails instead of hanging.
 */
function slowRoute(server: MockApi, token: string): Deferred<void> {
  const release = deferred<void>();
  server.route('/slow', async (request) => {
    if (server.sentTo('/slow').length > 30) return [500, { error: 'loop' }];
    if (request.token === token) await release.promise;
    return authorized(server, request);
  });
  return release;
}

describe('rule 4: stale answers', () => {
  it('replays a 401 for token A that arrives after the refresh produced B with B, without a second refresh', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'B' });
    const release = slowRoute(server, 'A');
    const refresh = jest.fn(
      async (_ctx: RefreshContext): Promise<Tokens> => ({ accessToken: 'B' }),
    );
    // cooldownMs 0: B is then never "young", so only rule 4 can keep a second refresh from starting.
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A' },
        cooldownMs: 0,
      }),
    );
    const starts = jest.fn();
    gate.on('refresh:start', starts);

    const slow = observe(server.api.get('/slow'));
    await flush();
    expect(server.sentTo('/slow')).toEqual([{ method: 'GET', url: '/slow', token: 'A' }]);

    // Another request 401s, refreshes and is replayed, all while /slow is still in flight.
    expect((await server.api.get('/fast')).data).toEqual({ url: '/fast', token: 'B' });
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.status).toBe('idle');

    release.resolve(); // the late 401 for A
    expect((await fulfilled(slow)).data).toEqual({ url: '/slow', token: 'B' });

    expect(refresh).toHaveBeenCalledTimes(1);
    expect(starts).toHaveBeenCalledTimes(1);
    expect(server.sentTo('/slow').map((request) => request.token)).toEqual(['A', 'B']);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('replays many late 401s of the old token with the current one and never refreshes again', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'B' });
    const release = slowRoute(server, 'A');
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'B');
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A' },
        cooldownMs: 0,
      }),
    );

    const slow = Array.from({ length: 10 }, () => observe(server.api.get('/slow')));
    await flush();
    await gate.refresh();
    expect(refresh).toHaveBeenCalledTimes(1);

    release.resolve();
    for (const request of slow) {
      expect((await fulfilled(request)).data).toEqual({ url: '/slow', token: 'B' });
    }
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(server.sentWith('B')).toHaveLength(10);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });

  it('replays a late 401 with the tokens of a login (setTokens) and never calls refresh', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'B' });
    const release = slowRoute(server, 'A');
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'X');
    const gate = keep(
      attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A' } }),
    );

    const slow = observe(server.api.get('/slow'));
    await flush();
    await gate.setTokens({ accessToken: 'B' });
    release.resolve();

    expect((await fulfilled(slow)).data).toEqual({ url: '/slow', token: 'B' });
    expect(refresh).not.toHaveBeenCalled();
    expect(gate.state.waiting).toBe(0);
  });

  it('replays with a token another writer put in the store', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'B' });
    const release = slowRoute(server, 'A');
    const store = memoryStore({ accessToken: 'A' });
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'X');
    const gate = keep(attachRefreshGate(server.api, { refresh, store }));

    const slow = observe(server.api.get('/slow'));
    await flush();
    store.set({ accessToken: 'B' }); // e.g. another part of the app refreshed
    release.resolve();

    expect((await fulfilled(slow)).data).toEqual({ url: '/slow', token: 'B' });
    expect(refresh).not.toHaveBeenCalled();
    expect(gate.state.waiting).toBe(0);
  });

  it('still refreshes for a 401 on the current token (a stale check that is not too eager)', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'C' });
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'C');
    keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'B' },
      }),
    );

    expect((await server.api.get('/me')).data).toEqual({ url: '/me', token: 'C' });
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it('gives the caller the replay’s own 401 when the current token is refused too, without refreshing', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'nobody' });
    const release = slowRoute(server, 'A');
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'B');
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A' },
        cooldownMs: 0,
      }),
    );

    const slow = observe(server.api.get('/slow'));
    await flush();
    await gate.refresh();
    release.resolve();

    const error = (await rejected(slow)) as AxiosError;
    expect(error.response?.status).toBe(401);
    expect(error.config?.headers.Authorization).toBe('Bearer B');
    // maxReplays (1) is spent on the stale replay: the replay's 401 does not refresh again.
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.waiting).toBe(0);
  });
});
