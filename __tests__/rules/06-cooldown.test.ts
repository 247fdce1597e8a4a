// Rule 6, cooldown: for cooldownMs after a failure, requests that would start a refresh reject at
// once with COOLDOWN (cause = the failure) and no refresh starts; a request whose token is only
// expiring is sent with it. A triggering response to a request sent with a token this gate obtained
// from a refresh less than cooldownMs ago rejects with its own error (no refresh loop). Tokens in the
// store at start-up are not young.
import type { AxiosError } from 'axios';
import {
  attachRefreshGate,
  isRefreshGateError,
  memoryStore,
  type RefreshContext,
  RefreshGateError,
  type Tokens,
} from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import {
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

beforeEach(() => {
  useFakeClock();
  jest.setSystemTime(1_000_000);
});
afterEach(() => {
  jest.useRealTimers();
});

describe('rule 6: cooldown after a failure', () => {
  it('rejects a 401 within cooldownMs at once with COOLDOWN caused by the failure; no refresh starts', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const failure = new Error('refresh endpoint down');
    const refresh = jest
      .fn((_ctx: RefreshContext): Promise<Tokens | string> => Promise.resolve('A1'))
      .mockRejectedValueOnce(failure);
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A0' },
        cooldownMs: 1000,
      }),
    );

    expect(await rejected(observe(server.api.get('/first')))).toBe(failure);
    expect(gate.state).toMatchObject({ status: 'cooldown', failures: 1, waiting: 0 });

    await jest.advanceTimersByTimeAsync(999);
    const during = [observe(server.api.get('/a')), observe(server.api.post('/b', {}))];
    await flush();
    for (const request of during) {
      // Settled without any timer running: at once, not after a wait.
      expect(request.settled).toBe(true);
      const error = await rejected(request);
      expect(error).toBeInstanceOf(RefreshGateError);
      expect(isRefreshGateError(error) && error.code).toBe('COOLDOWN');
      expect((error as RefreshGateError).cause).toBe(failure);
    }
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(server.sentTo('/a')).toHaveLength(1);
    expect(server.sentTo('/b')).toHaveLength(1);
    expect(gate.state).toEqual({ status: 'cooldown', waiting: 0, refreshes: 0, failures: 1 });
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('refreshes again for a 401 once cooldownMs has passed', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const failure = new Error('refresh endpoint down');
    const refresh = jest
      .fn((_ctx: RefreshContext): Promise<Tokens | string> => Promise.resolve('A1'))
      .mockRejectedValueOnce(failure);
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A0' },
        cooldownMs: 1000,
      }),
    );

    await rejected(observe(server.api.get('/first')));
    await jest.advanceTimersByTimeAsync(1000);
    expect(gate.state.status).toBe('idle');

    const response = await server.api.get('/after');

    expect(response.data).toEqual({ url: '/after', token: 'A1' });
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(gate.state).toEqual({ status: 'idle', waiting: 0, refreshes: 1, failures: 1 });
  });

  it('sends a request whose token is only expiring with that token during cooldown', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A0' });
    const failure = new Error('refresh endpoint down');
    const refresh = jest
      .fn(async (_ctx: RefreshContext): Promise<Tokens | string> => {
        server.token = 'A1';
        return { accessToken: 'A1', expiresAt: Date.now() + 3_600_000 };
      })
      .mockRejectedValueOnce(failure);
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        // Expires in 10 s, inside the default 30 s refreshBeforeExpiryMs window.
        initialTokens: { accessToken: 'A0', expiresAt: Date.now() + 10_000 },
        cooldownMs: 1000,
      }),
    );

    await expect(gate.refresh()).rejects.toBe(failure);

    const during = observe(server.api.get('/during'));
    await flush();
    expect(during.settled).toBe(true);
    expect((await fulfilled(during)).data).toEqual({ url: '/during', token: 'A0' });
    expect(refresh).toHaveBeenCalledTimes(1);

    // Proof that the token was expiring: once the cooldown is over, the same request refreshes first.
    await jest.advanceTimersByTimeAsync(1000);
    expect((await server.api.get('/after')).data).toEqual({ url: '/after', token: 'A1' });
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(refresh.mock.calls[1]?.[0].reason).toBe('expiring');
    expect(gate.state.waiting).toBe(0);
  });
});

describe('rule 6: no refresh loop on a young token', () => {
  it('rejects the replay with its own 401 when the token just obtained is refused (maxReplays 3)', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'refused-forever' });
    let issued = 0;
    const refresh = jest.fn(async (_ctx: RefreshContext) => `A${++issued}`);
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A0' },
        cooldownMs: 1000,
        maxReplays: 3,
      }),
    );

    const error = (await rejected(observe(server.api.get('/me')))) as AxiosError;

    expect(error.response?.status).toBe(401);
    expect(error.config?.headers.Authorization).toBe('Bearer A1');
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(server.sent.map((request) => request.token)).toEqual(['A0', 'A1']);
    // Not a failed refresh: no cooldown, no failure counted.
    expect(gate.state).toEqual({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });

  it('rejects a new request on a young token with its own 401, until cooldownMs has passed', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    let issued = 0;
    const refresh = jest.fn(async (_ctx: RefreshContext) => {
      issued += 1;
      return `A${issued}`;
    });
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A0' },
        cooldownMs: 1000,
      }),
    );
    await server.api.get('/first');
    expect(refresh).toHaveBeenCalledTimes(1);

    server.token = 'A2'; // the server revokes A1 right away
    await jest.advanceTimersByTimeAsync(999);
    const young = (await rejected(observe(server.api.get('/young')))) as AxiosError;
    expect(young.response?.status).toBe(401);
    expect(young.config?.headers.Authorization).toBe('Bearer A1');
    expect(refresh).toHaveBeenCalledTimes(1);

    await jest.advanceTimersByTimeAsync(1);
    expect((await server.api.get('/old')).data).toEqual({ url: '/old', token: 'A2' });
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(gate.state).toEqual({ status: 'idle', waiting: 0, refreshes: 2, failures: 0 });
  });

  it('does not treat initialTokens as young: a 401 right after creation refreshes', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'A1');
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A0' },
        cooldownMs: 60_000,
      }),
    );

    expect((await server.api.get('/me')).data).toEqual({ url: '/me', token: 'A1' });
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.waiting).toBe(0);
  });

  it('does not treat tokens already in the store as young: a 401 right after creation refreshes', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'A1');
    keep(
      attachRefreshGate(server.api, {
        refresh,
        store: memoryStore({ accessToken: 'A0' }),
        cooldownMs: 60_000,
      }),
    );

    expect((await server.api.get('/me')).data).toEqual({ url: '/me', token: 'A1' });
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it('does not treat tokens from setTokens (a login) as young', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
    const refresh = jest.fn(async (_ctx: RefreshContext) => 'A1');
    const gate = keep(attachRefreshGate(server.api, { refresh, cooldownMs: 60_000 }));

    await gate.setTokens({ accessToken: 'L0' });
    expect((await server.api.get('/me')).data).toEqual({ url: '/me', token: 'A1' });
    expect(refresh).toHaveBeenCalledTimes(1);
  });
});
