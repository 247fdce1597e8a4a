// Rule 3, queue and replay: a triggering response (status in statusCodes, or shouldRefresh) joins
// the running refresh or starts one; the request is replayed with the new token and its caller sees
// only the replay's outcome. An empty store does not prevent a refresh.
import {
  AxiosError,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
  isAxiosError,
} from 'axios';
import {
  attachRefreshGate,
  memoryStore,
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
  watchUnhandledRejections,
} from '../helpers/mock-api.js';

const unhandled = watchUnhandledRejections();
const keep = destroyAfterEach();

describe('rule 3: queue and replay', () => {
  it('replays the 401 with the new token; the caller sees only the replay', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const refresh = jest.fn(
      async (_ctx: RefreshContext): Promise<Tokens> => ({ accessToken: 'A1' }),
    );
    const gate = keep(
      attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }),
    );
    const replayed = jest.fn();
    gate.on('request:replayed', replayed);

    const response = await server.api.get('/me');

    expect(response.status).toBe(200);
    expect(response.data).toEqual({ url: '/me', token: 'A1' });
    expect(response.config.headers.Authorization).toBe('Bearer A1');
    expect(server.sent.map((request) => request.token)).toEqual(['A0', 'A1']);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(replayed).toHaveBeenCalledTimes(1);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    expect(unhandled).not.toHaveBeenCalled();
  });

  it("gives the caller the replay's failure (a 500), not the original 401", async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    server.route('/boom', (request) =>
      request.token === 'A1' ? [500, { error: 'server_error' }] : [401],
    );
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh: async () => ({ accessToken: 'A1' }),
        initialTokens: { accessToken: 'A0' },
      }),
    );

    const error = await rejected(observe(server.api.get('/boom')));

    expect(isAxiosError(error)).toBe(true);
    expect((error as AxiosError).response?.status).toBe(500);
    expect((error as AxiosError).response?.data).toEqual({ error: 'server_error' });
    expect((error as AxiosError).config?.headers.Authorization).toBe('Bearer A1');
    expect(server.sentTo('/boom')).toHaveLength(2);
    expect(gate.state.waiting).toBe(0);
  });

  it('lets a 401 that arrives during a running refresh join it instead of starting another', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const response = deferred<void>();
    server.route('/slow', async (request) => {
      if (request.token === 'A0') await response.promise;
      return authorized(server, request);
    });
    const pending = deferred<Tokens>();
    const refresh = jest.fn((_ctx: RefreshContext) => pending.promise);
    const gate = keep(
      attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }),
    );

    const slow = observe(server.api.get('/slow'));
    await flush();
    const manual = observe(gate.refresh());
    await flush();
    response.resolve(); // its 401 arrives while the manual refresh runs
    await flush();
    expect(gate.state.waiting).toBe(1); // rule 18: a pending refresh() call is not counted

    pending.resolve({ accessToken: 'A1' });
    await fulfilled(manual);
    expect((await fulfilled(slow)).data).toEqual({ url: '/slow', token: 'A1' });
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.waiting).toBe(0);
  });

  describe('what triggers a refresh', () => {
    it('refreshes for 401 only by default: a 403 reaches the caller untouched', async () => {
      const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
      server.route('/forbidden', () => [403, { error: 'forbidden' }]);
      const refresh = jest.fn(async () => 'A1');
      const gate = keep(
        attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }),
      );

      const error = await rejected(observe(server.api.get('/forbidden')));

      expect((error as AxiosError).response?.status).toBe(403);
      expect(refresh).not.toHaveBeenCalled();
      expect(server.sent).toHaveLength(1);
      expect(gate.state.waiting).toBe(0);
    });

    it('refreshes for every code of a custom statusCodes: [401, 403]', async () => {
      const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
      server.route('/forbidden', (request) =>
        request.token === server.token ? [200, { token: request.token }] : [403],
      );
      server.route('/teapot', () => [418]);
      let next = 0;
      const refresh = jest.fn(async () => {
        next += 1;
        server.token = `A${next}`;
        return `A${next}`;
      });
      const gate = keep(
        attachRefreshGate(server.api, {
          refresh,
          initialTokens: { accessToken: 'A0' },
          statusCodes: [401, 403],
          cooldownMs: 0,
        }),
      );

      expect((await server.api.get('/forbidden')).data).toEqual({ token: 'A1' });
      expect(refresh).toHaveBeenCalledTimes(1);

      server.token = 'Z';
      expect((await server.api.get('/me')).data).toEqual({ url: '/me', token: 'A2' });
      expect(refresh).toHaveBeenCalledTimes(2);

      const error = await rejected(observe(server.api.get('/teapot')));
      expect((error as AxiosError).response?.status).toBe(418);
      expect(refresh).toHaveBeenCalledTimes(2);
      expect(gate.state.waiting).toBe(0);
    });

    it('lets shouldRefresh replace statusCodes: 419 refreshes, 401 does not', async () => {
      const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
      server.route('/session', (request) => (request.token === 'A1' ? [200, 'ok'] : [419]));
      const refresh = jest.fn(async () => 'A1');
      const shouldRefresh = jest.fn((error: AxiosError) => error.response?.status === 419);
      const gate = keep(
        attachRefreshGate(server.api, {
          refresh,
          initialTokens: { accessToken: 'A0' },
          shouldRefresh,
        }),
      );

      const unauthorized = await rejected(observe(server.api.get('/me')));
      expect((unauthorized as AxiosError).response?.status).toBe(401);
      expect(refresh).not.toHaveBeenCalled();

      const response = await server.api.get('/session');
      expect(response.data).toBe('ok');
      expect(refresh).toHaveBeenCalledTimes(1);
      expect(server.sentTo('/session').map((request) => request.token)).toEqual(['A0', 'A1']);
      expect(shouldRefresh).toHaveBeenCalledTimes(2);
      expect(gate.state.waiting).toBe(0);
    });

    it('refreshes for a GraphQL-style 200 that an earlier interceptor turned into an error', async () => {
      const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
      server.route('/graphql', (request) =>
        request.token === 'A1'
          ? [200, { data: { me: { id: 1 } } }]
          : [200, { errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] }],
      );
      // Installed before the gate, so that it runs first on every response, replays included.
      server.api.interceptors.response.use((response: AxiosResponse) => {
        const errors = (response.data as { errors?: Array<{ extensions?: { code?: string } }> })
          .errors;
        if (errors?.some((error) => error.extensions?.code === 'UNAUTHENTICATED')) {
          throw new AxiosError(
            'unauthenticated',
            'ERR_UNAUTHENTICATED',
            response.config,
            response.request,
            response,
          );
        }
        return response;
      });
      const refresh = jest.fn(async () => 'A1');
      const gate = keep(
        attachRefreshGate(server.api, {
          refresh,
          initialTokens: { accessToken: 'A0' },
          shouldRefresh: (error) => error.code === 'ERR_UNAUTHENTICATED',
        }),
      );

      const response = await server.api.post('/graphql', { query: '{ me { id } }' });

      expect(response.data).toEqual({ data: { me: { id: 1 } } });
      expect(refresh).toHaveBeenCalledTimes(1);
      expect(server.sentTo('/graphql').map((request) => request.token)).toEqual(['A0', 'A1']);
      expect(gate.state.waiting).toBe(0);
    });
  });

  describe('the refresh context and its result', () => {
    it('refreshes with an empty store (the refresh token is an httpOnly cookie); ctx.tokens is null', async () => {
      const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
      const refresh = jest.fn(async (_ctx: RefreshContext) => 'A1');
      const gate = keep(attachRefreshGate(server.api, { refresh }));

      const response = await server.api.get('/me');

      expect(response.data).toEqual({ url: '/me', token: 'A1' });
      expect(refresh).toHaveBeenCalledTimes(1);
      expect(refresh.mock.calls[0]?.[0].tokens).toBeNull();
      expect(server.sent.map((request) => request.token)).toEqual([null, 'A1']);
      expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    });

    it("passes reason 'unauthorized', the stored tokens and the very AxiosError that triggered it", async () => {
      const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
      const seen: unknown[] = [];
      // Installed before the gate: sees the 401 first and hands the same object on.
      server.api.interceptors.response.use(undefined, (error: unknown) => {
        seen.push(error);
        throw error;
      });
      const refresh = jest.fn(async (_ctx: RefreshContext) => 'A1');
      const initialTokens = { accessToken: 'A0', refreshToken: 'R0' };
      keep(attachRefreshGate(server.api, { refresh, initialTokens }));

      await server.api.get('/me');

      const ctx = refresh.mock.calls[0]?.[0];
      expect(ctx?.reason).toBe('unauthorized');
      expect(ctx?.tokens).toEqual(initialTokens);
      expect(ctx?.signal).toBeInstanceOf(AbortSignal);
      expect(ctx?.signal.aborted).toBe(false);
      expect(seen).toHaveLength(1);
      expect(ctx?.error).toBe(seen[0]);
      expect(isAxiosError(ctx?.error)).toBe(true);
      expect(ctx?.error?.response?.status).toBe(401);
      expect(ctx?.error?.config?.url).toBe('/me');
    });

    it('keeps the stored refresh token when the refresh resolves to a string', async () => {
      const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
      const store = memoryStore();
      const gate = keep(
        attachRefreshGate(server.api, {
          refresh: async () => 'A1',
          store,
          initialTokens: { accessToken: 'A0', refreshToken: 'R0' },
        }),
      );

      await server.api.get('/me');

      expect(store.get()).toEqual({ accessToken: 'A1', refreshToken: 'R0' });
      expect(await gate.getAccessToken()).toBe('A1');
    });

    it('stores both tokens when the refresh resolves to Tokens', async () => {
      const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
      const store = memoryStore();
      keep(
        attachRefreshGate(server.api, {
          refresh: async () => ({ accessToken: 'A1', refreshToken: 'R1' }),
          store,
          initialTokens: { accessToken: 'A0', refreshToken: 'R0' },
        }),
      );

      await server.api.get('/me');

      expect(store.get()).toEqual({ accessToken: 'A1', refreshToken: 'R1' });
    });
  });

  it('replays a request with its method, body and headers intact', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const bodies: unknown[] = [];
    server.route('/orders', (request, config: InternalAxiosRequestConfig) => {
      bodies.push([request.method, config.data, config.headers['X-Idempotency-Key']]);
      return authorized(server, request);
    });
    keep(
      attachRefreshGate(server.api, {
        refresh: async () => 'A1',
        initialTokens: { accessToken: 'A0' },
      }),
    );

    await server.api.post('/orders', { sku: 7 }, { headers: { 'X-Idempotency-Key': 'k1' } });

    expect(bodies).toEqual([
      ['POST', '{"sku":7}', 'k1'],
      ['POST', '{"sku":7}', 'k1'],
    ]);
  });
});
