// Rule 7, loop guard: a request is replayed at most maxReplays times; the refresh call never
// triggers a refresh. A request through an attached instance with the refresh's own ctx.signal, or
// with skipAuthRefresh: true, is the refresh call: neither held nor refreshed for. One that carries
// neither ends in REFRESH_TIMEOUT, never in a silent hang.
import { type AxiosError, isAxiosError } from 'axios';
import {
  attachRefreshGate,
  isRefreshGateError,
  type RefreshContext,
  type Tokens,
} from '../../src/index.js';
import { deferred, flush } from '../helpers/deferred.js';
import {
  authorized,
  destroyAfterEach,
  fulfilled,
  mockApi,
  observe,
  rejected,
  useFakeClock,
  watchUnhandledRejections,
} from '../helpers/mock-api.js';

const unhandled = watchUnhandledRejections();
const keep = destroyAfterEach();

afterEach(() => {
  jest.useRealTimers();
});

describe('rule 7: maxReplays', () => {
  // cooldownMs 0 turns the young-token guard of rule 6 off, so that only maxReplays stops the loop.
  const refusingServer = (maxReplays?: number) => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'refused-forever' });
    // A gate that loops ends with a 500 after ten sends, so that the test fails instead of hanging.
    server.route('/me', (request) =>
      server.sentTo('/me').length > 10 ? [500, { error: 'loop' }] : authorized(server, request),
    );
    let issued = 0;
    const refresh = jest.fn(async (_ctx: RefreshContext) => `A${++issued}`);
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A0' },
        cooldownMs: 0,
        ...(maxReplays === undefined ? {} : { maxReplays }),
      }),
    );
    return { server, refresh, gate };
  };

  it('replays a request once by default, then hands the caller the replay’s 401', async () => {
    const { server, refresh, gate } = refusingServer();

    const error = (await rejected(observe(server.api.get('/me')))) as AxiosError;

    expect(error.response?.status).toBe(401);
    expect(error.config?.headers.Authorization).toBe('Bearer A1');
    expect(server.sent.map((request) => request.token)).toEqual(['A0', 'A1']);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.waiting).toBe(0);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('never replays with maxReplays 0: the caller gets the first 401', async () => {
    const { server, gate } = refusingServer(0);

    const error = (await rejected(observe(server.api.get('/me')))) as AxiosError;

    expect(error.response?.status).toBe(401);
    expect(error.config?.headers.Authorization).toBe('Bearer A0');
    expect(server.sent).toHaveLength(1);
    expect(gate.state.waiting).toBe(0);
  });

  it('replays at most twice with maxReplays 2', async () => {
    const { server, refresh, gate } = refusingServer(2);

    const error = (await rejected(observe(server.api.get('/me')))) as AxiosError;

    expect(error.response?.status).toBe(401);
    expect(server.sent.map((request) => request.token)).toEqual(['A0', 'A1', 'A2']);
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(gate.state.waiting).toBe(0);
  });

  it('lets the second replay succeed with maxReplays 2', async () => {
    const { server, refresh } = refusingServer(2);
    server.token = 'A2';

    const response = await server.api.get('/me');

    expect(response.data).toEqual({ url: '/me', token: 'A2' });
    expect(refresh).toHaveBeenCalledTimes(2);
  });
});

describe('rule 7: the refresh call through an attached instance', () => {
  const variants = [
    {
      name: "with the refresh's ctx.signal",
      call: (server: ReturnType<typeof mockApi>, ctx: RefreshContext) =>
        server.api.post<Tokens>('/auth/refresh', {}, { signal: ctx.signal }),
    },
    {
      name: 'with skipAuthRefresh: true',
      call: (server: ReturnType<typeof mockApi>, _ctx: RefreshContext) =>
        server.api.post<Tokens>('/auth/refresh', {}, { skipAuthRefresh: true }),
    },
  ];

  for (const variant of variants) {
    describe(variant.name, () => {
      it('is sent while the refresh runs (not held) and the refresh completes', async () => {
        const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
        server.route('/auth/refresh', () => [200, { accessToken: 'A1' }]);
        const refresh = jest.fn(
          async (ctx: RefreshContext) => (await variant.call(server, ctx)).data,
        );
        const gate = keep(
          attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }),
        );

        const requests = Array.from({ length: 3 }, () => observe(server.api.get('/data')));
        for (const request of requests) {
          expect((await fulfilled(request)).data).toEqual({ url: '/data', token: 'A1' });
        }

        expect(refresh).toHaveBeenCalledTimes(1);
        // The token is still attached to the refresh call: the one in the store when it ran.
        expect(server.sentTo('/auth/refresh')).toEqual([
          { method: 'POST', url: '/auth/refresh', token: 'A0' },
        ]);
        expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
      });

      it('is not refreshed for: its 401 reaches the refresh function, once', async () => {
        const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
        server.route('/auth/refresh', () => [401, { error: 'invalid_grant' }]);
        let seen: unknown;
        const refresh = jest.fn(async (ctx: RefreshContext) => {
          try {
            return (await variant.call(server, ctx)).data;
          } catch (error) {
            seen = error;
            throw error;
          }
        });
        const gate = keep(
          attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }),
        );

        const requests = Array.from({ length: 3 }, () => observe(server.api.get('/data')));
        for (const request of requests) expect(await rejected(request)).toBe(seen);

        expect(isAxiosError(seen)).toBe(true);
        expect((seen as AxiosError).response?.status).toBe(401);
        expect((seen as AxiosError).config?.url).toBe('/auth/refresh');
        expect(refresh).toHaveBeenCalledTimes(1);
        expect(server.sentTo('/auth/refresh')).toHaveLength(1);
        expect(gate.state).toMatchObject({ waiting: 0, refreshes: 0, failures: 1 });
      });
    });
  }

  it('never holds a skipAuthRefresh request behind a running refresh, nor refreshes for it', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const pending = deferred<string>();
    const refresh = jest.fn((_ctx: RefreshContext) => pending.promise);
    const gate = keep(
      attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }),
    );

    // Outside a refresh: its 401 goes to the caller; no refresh.
    const alone = (await rejected(
      observe(server.api.get('/public', { skipAuthRefresh: true })),
    )) as AxiosError;
    expect(alone.response?.status).toBe(401);
    expect(alone.config?.headers.Authorization).toBe('Bearer A0');
    expect(refresh).not.toHaveBeenCalled();

    // During a refresh: sent at once, with the token in the store.
    const manual = observe(gate.refresh());
    await flush();
    server.route('/health', (request) => [200, { token: request.token }]);
    const health = observe(server.api.get('/health', { skipAuthRefresh: true }));
    await flush();
    expect(health.settled).toBe(true);
    expect((await fulfilled(health)).data).toEqual({ token: 'A0' });
    expect(gate.state.waiting).toBe(0); // rule 18: a pending refresh() call is not counted

    pending.resolve('A1');
    await fulfilled(manual);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.waiting).toBe(0);
  });

  it('ends a refresh call that carries neither in REFRESH_TIMEOUT, not a hang', async () => {
    useFakeClock();
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    server.route('/auth/refresh', (request) => authorized(server, request));
    const refresh = jest.fn(
      async (_ctx: RefreshContext) => (await server.api.post<Tokens>('/auth/refresh', {})).data,
    );
    const onRefreshFailed = jest.fn();
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A0' },
        refreshTimeoutMs: 5000,
        onRefreshFailed,
      }),
    );

    const request = observe(server.api.get('/data'));
    await flush();
    expect(refresh).toHaveBeenCalledTimes(1);
    // The refresh call waits at the gate behind the refresh that made it.
    expect(server.sentTo('/auth/refresh')).toHaveLength(0);
    expect(gate.state.waiting).toBe(2);

    await jest.advanceTimersByTimeAsync(5000);

    const error = await rejected(request);
    expect(isRefreshGateError(error) && error.code).toBe('REFRESH_TIMEOUT');
    expect(onRefreshFailed).toHaveBeenCalledWith(error, { terminal: false });
    await flush();
    expect(refresh.mock.results[0]?.type).toBe('return');
    await expect(refresh.mock.results[0]?.value).rejects.toBe(error);
    expect(server.sentTo('/auth/refresh')).toHaveLength(0);
    expect(gate.state).toMatchObject({ waiting: 0, failures: 1 });
  });
});
