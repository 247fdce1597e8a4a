import axios from 'axios';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { login } from '../../examples/storm.js';
import { createRefreshGate } from '../../src/index.js';
import { deferred } from '../helpers/deferred.js';

// Rule 5 when the refresh call fails with an AxiosError that itself has a triggering status (a
// 401 from the refresh endpoint, on an allowed origin, made with plain axios as the docs show):
// a held request's rejection travels on through axios' response interceptors and must reach the
// caller as that same error, not be taken for a 401 of its own (COOLDOWN, or a second refresh).
describe.each([5_000, 0])('a refresh failing with a 401 (cooldownMs %i)', (cooldownMs) => {
  let server: AuthServer;
  beforeEach(async () => {
    server = await startAuthServer({ accessTtlMs: 3_600_000, refreshFailure: 401 });
  });
  afterEach(() => server.close());

  test('held and queued requests reject with the same error; one refresh, one onRefreshFailed', async () => {
    const api = axios.create({ baseURL: server.url });
    const refreshStarted = deferred<void>();
    const onRefreshFailed = jest.fn();
    const gate = createRefreshGate({
      cooldownMs,
      onRefreshFailed,
      refresh: async ({ tokens, signal }) => {
        refreshStarted.resolve();
        const { data } = await axios.post(
          `${server.url}/auth/refresh`,
          { refreshToken: tokens?.refreshToken },
          { signal },
        );
        return data;
      },
    });
    gate.attach(api);
    await gate.setTokens(await login(server.url));
    server.expireAll();

    const queued = api.get('/api/a').catch((error: unknown) => error);
    await refreshStarted.promise;
    const held = api.get('/api/b').catch((error: unknown) => error);
    const [queuedError, heldError] = await Promise.all([queued, held]);

    expect(axios.isAxiosError(queuedError) && queuedError.response?.status).toBe(401);
    expect(heldError).toBe(queuedError);
    expect(server.stats.refreshCalls).toBe(1);
    expect(onRefreshFailed).toHaveBeenCalledTimes(1);
    gate.destroy();
  });
});
