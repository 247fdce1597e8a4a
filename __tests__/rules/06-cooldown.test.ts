// Rule 6, cooldown: for cooldownMs after a failure, requests that would start a refresh reject at
// once with COOLDOWN (cause = the failure) and no refresh starts; a request whose token is only
// expiring is sent with it. A triggering response to a request sent with a token this gate obtained
// from a refresh less than cooldownMs ago rejects with its own error (no refresh loop). Tokens in the
// store at start-up are not young.
import axios, { type AxiosError } from 'axios';
import {
  attachRefreshGate,
  isRefreshGateError,
  memoryStore,
  type RefreshContext,
  RefreshGateError,
  type Tokens,
} from '../../src/index.js';
import { deferred, flush } from '../helpers/deferred.js';
import { jwt } from '../helpers/gate-fixtures.js';
import {
  authorized,
  destroyAfterEach,
  fulfilled,
  type MockApi,
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
    expect(gate.state).toMatchObject({ status: 'cooldown', waiting: 0, refreshes: 0, failures: 1 });
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
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 1 });
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
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });

  it('rejects a new request on a young token no response accepted with its own 401, until cooldownMs has passed', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'A2' });
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
    // A0 is refused, the refresh gives A1, and the server refuses A1 as well (maxReplays 1).
    await rejected(observe(server.api.get('/first')));
    expect(refresh).toHaveBeenCalledTimes(1);

    await jest.advanceTimersByTimeAsync(999);
    const young = (await rejected(observe(server.api.get('/young')))) as AxiosError;
    expect(young.response?.status).toBe(401);
    expect(young.config?.headers.Authorization).toBe('Bearer A1');
    expect(refresh).toHaveBeenCalledTimes(1);

    await jest.advanceTimersByTimeAsync(1);
    expect((await server.api.get('/old')).data).toEqual({ url: '/old', token: 'A2' });
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 2, failures: 0 });
  });

  it('refreshes for a 401 on a young token once a response accepted it, even within cooldownMs', async () => {
    // An opaque token with no known expiry that lives less than cooldownMs: it worked, then expired.
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
    await server.api.get('/first'); // 401 with A0, refreshed, replayed and accepted with A1
    expect(refresh).toHaveBeenCalledTimes(1);

    server.token = 'A2'; // A1 expires
    await jest.advanceTimersByTimeAsync(500);
    expect((await server.api.get('/later')).data).toEqual({ url: '/later', token: 'A2' });
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 2, failures: 0 });
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

/**
 * Tokens a server issues, each valid for `lifetimeMs`; the server (`server.accept`) answers 401 for
 * an unknown or expired token and counts the expired ones it was sent.
 */
function issuing(server: MockApi, lifetimeMs: number) {
  const expiry = new Map<string, number>();
  const issued: string[] = [];
  let counter = 0;
  let expiredSent = 0;
  server.accept = (token) => {
    const at = token === null ? undefined : expiry.get(token);
    if (at !== undefined && at <= Date.now()) expiredSent++;
    return at !== undefined && Date.now() < at;
  };
  const register = (accessToken: string, expiresAt: number): Tokens => {
    expiry.set(accessToken, expiresAt);
    issued.push(accessToken);
    return { accessToken, expiresAt };
  };
  return {
    issued,
    register,
    /** A new token (`A1`, `A2`, ...) with `expiresAt`. */
    issue: (): Tokens => register(`A${++counter}`, Date.now() + lifetimeMs),
    /** A new token whose expiry only its JWT `exp` claim tells. */
    issueJwt: (): string => {
      const expiresAt = Date.now() + lifetimeMs;
      const token = jwt({ sub: `A${++counter}`, exp: expiresAt / 1000 });
      register(token, expiresAt);
      return token;
    },
    expiredSent: () => expiredSent,
  };
}

describe('rule 6: legitimate expiry always gets through', () => {
  // issue 10 item 8
  it.each([['expiresAt'], ['a JWT exp claim']])(
    'never sends a token past its own expiry (known from %s), even one this gate obtained a second ago: the request refreshes first',
    async (how) => {
      const server = mockApi({ baseURL: 'https://api.test' });
      const tokens = issuing(server, 1_000);
      const refresh = jest.fn(
        async (_ctx: RefreshContext): Promise<Tokens | string> =>
          how === 'expiresAt' ? tokens.issue() : tokens.issueJwt(),
      );
      keep(attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }));

      const first = observe(server.api.get('/first')); // A0 is unknown: 401, refresh, replay
      expect((await fulfilled(first)).data).toEqual({ url: '/first', token: tokens.issued[0] });

      await jest.advanceTimersByTimeAsync(1_001); // past its expiry; 1 s old, cooldownMs is 5 s
      const later = observe(server.api.get('/later'));
      expect((await fulfilled(later)).data).toEqual({ url: '/later', token: tokens.issued[1] });
      expect(refresh).toHaveBeenCalledTimes(2);
      expect(refresh.mock.calls[1]?.[0].reason).toBe('expiring');
      expect(server.sentTo('/later').map((request) => request.token)).toEqual([tokens.issued[1]]);
      expect(tokens.expiredSent()).toBe(0);
    },
  );

  it('rejects a request whose token is past its expiry with COOLDOWN during a cooldown, without sending it', async () => {
    const server = mockApi({ baseURL: 'https://api.test' });
    const tokens = issuing(server, 3_600_000);
    const failure = new Error('refresh endpoint down');
    const refresh = jest
      .fn(async (_ctx: RefreshContext): Promise<Tokens | string> => tokens.issue())
      .mockRejectedValueOnce(failure);
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: tokens.register('A0', Date.now() + 1_000),
        cooldownMs: 5_000,
      }),
    );
    await expect(gate.refresh()).rejects.toBe(failure);

    // Only expiring: sent with it during the cooldown (as before).
    expect((await fulfilled(observe(server.api.get('/expiring')))).data.token).toBe('A0');

    await jest.advanceTimersByTimeAsync(1_001); // A0 is past its expiry, the cooldown goes on
    const expired = observe(server.api.get('/expired'));
    await flush();
    expect(expired.settled).toBe(true);
    const error = await rejected(expired);
    expect(isRefreshGateError(error) && error.code).toBe('COOLDOWN');
    expect((error as RefreshGateError).cause).toBe(failure);
    expect(server.sentTo('/expired')).toEqual([]);
    expect(refresh).toHaveBeenCalledTimes(1);

    // Once the cooldown is over, the same request refreshes first.
    await jest.advanceTimersByTimeAsync(4_000);
    const after = observe(server.api.get('/after'));
    expect((await fulfilled(after)).data).toEqual({ url: '/after', token: 'A1' });
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(tokens.expiredSent()).toBe(0);
  });

  it('refreshes for a 401 on a token that is past its own expiry when the 401 arrives, however young the token', async () => {
    const server = mockApi({ baseURL: 'https://api.test' });
    const tokens = issuing(server, 1_000);
    const refresh = jest.fn(
      async (_ctx: RefreshContext): Promise<Tokens | string> => tokens.issue(),
    );
    keep(attachRefreshGate(server.api, { refresh, initialTokens: { accessToken: 'A0' } }));
    await fulfilled(observe(server.api.get('/first'))); // A0 unknown: 401, refresh to A1, replay

    // 400 ms into its 1 s life A1 is outside its proactive window (half its life) and is sent...
    await jest.advanceTimersByTimeAsync(400);
    const hold = deferred<void>();
    server.route('/slow', async (request) => {
      if (request.token === 'A1') await hold.promise;
      return authorized(server, request);
    });
    const slow = observe(server.api.get('/slow'));
    await flush();
    expect(server.sentTo('/slow').map((request) => request.token)).toEqual(['A1']);

    // ...and its 401 comes back once it has expired, 1.1 s old (cooldownMs is 5 s).
    await jest.advanceTimersByTimeAsync(700);
    hold.resolve();
    expect((await fulfilled(slow)).data).toEqual({ url: '/slow', token: 'A2' });
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(refresh.mock.calls[1]?.[0].reason).toBe('unauthorized');
  });

  it('refreshes a 3 s token it obtained once, about half way through its life, not before every request; a token from initialTokens or setTokens uses the full window', async () => {
    const server = mockApi({ baseURL: 'https://api.test' });
    const tokens = issuing(server, 3_000);
    const refresh = jest.fn(
      async (_ctx: RefreshContext): Promise<Tokens | string> => tokens.issue(),
    );
    const gate = keep(attachRefreshGate(server.api, { refresh, initialTokens: tokens.issue() }));
    const tokenOf = async (url: string) =>
      ((await fulfilled(observe(server.api.get(url)))).data as { token: string }).token;

    // initialTokens: 3 s left is within the full 30 s window, so the first request refreshes.
    expect(await tokenOf('/0')).toBe('A2');
    expect(refresh).toHaveBeenCalledTimes(1);

    await jest.advanceTimersByTimeAsync(1_000);
    expect(await tokenOf('/1')).toBe('A2');
    await jest.advanceTimersByTimeAsync(400); // 1.4 s into A2's life
    expect(await tokenOf('/2')).toBe('A2');
    expect(refresh).toHaveBeenCalledTimes(1);

    await jest.advanceTimersByTimeAsync(200); // 1.6 s: past half its life
    expect(await tokenOf('/3')).toBe('A3');
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(refresh.mock.calls[1]?.[0].reason).toBe('expiring');

    // A login's 3 s token is within the full window: refreshed before the next request.
    await gate.setTokens(tokens.register('L1', Date.now() + 3_000));
    expect(await tokenOf('/4')).toBe('A4');
    expect(refresh).toHaveBeenCalledTimes(3);
    expect(tokens.expiredSent()).toBe(0);
  });

  // issue 10 item 8 (the reported scenario: 2.5 s tokens, default options, steady load)
  it('serves steady load over tokens that live 2.5 s with default options: every request succeeds, about one refresh per 1.25 s, never two at once, none sent expired', async () => {
    const server = mockApi({ baseURL: 'https://api.test' });
    const tokens = issuing(server, 2_500);
    const startedAt: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const refresh = jest.fn(async (_ctx: RefreshContext): Promise<Tokens | string> => {
      startedAt.push(Date.now());
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20)); // the token endpoint's round trip
      inFlight--;
      return tokens.issue();
    });
    const gate = keep(attachRefreshGate(server.api, { refresh, initialTokens: tokens.issue() }));

    const requests = [];
    for (let at = 0; at < 20_000; at += 50) {
      requests.push(observe(server.api.get(`/r${at}`)));
      await flush();
      await jest.advanceTimersByTimeAsync(50);
    }
    await flush();
    const outcomes = await Promise.all(requests.map((request) => request.result));

    expect(outcomes).toHaveLength(400);
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(0);
    expect(tokens.expiredSent()).toBe(0);
    expect(maxInFlight).toBe(1);
    // About one refresh per 1.25 s (half the lifetime) plus the first: neither one per request nor
    // one per lifetime.
    expect(refresh.mock.calls.length).toBeGreaterThanOrEqual(14);
    expect(refresh.mock.calls.length).toBeLessThanOrEqual(18);
    const gaps = startedAt.slice(1).map((at, i) => at - startedAt[i]!);
    expect(gaps.filter((gap) => gap < 1_000 || gap > 1_500)).toEqual([]);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, failures: 0 });
    expect(jest.getTimerCount()).toBe(0);
    expect(unhandled).not.toHaveBeenCalled();
  });
});

describe('rule 6: the loop guard stops a real loop', () => {
  // issue 10 item 8
  it('runs one refresh, not a loop, for a server that refuses every fresh token: each caller gets its own 401, and under steady load at most one refresh runs per cooldownMs', async () => {
    const server = mockApi({ baseURL: 'https://api.test', token: 'never-issued' });
    const startedAt: number[] = [];
    const refresh = jest.fn(async (_ctx: RefreshContext) => {
      startedAt.push(Date.now());
      return `A${startedAt.length}`; // opaque: no known expiry
    });
    const gate = keep(
      attachRefreshGate(server.api, {
        refresh,
        initialTokens: { accessToken: 'A0' },
        maxReplays: 3,
      }),
    );

    const first = (await rejected(observe(server.api.get('/first')))) as AxiosError;
    expect(first.response?.status).toBe(401);
    expect(first.config?.headers.Authorization).toBe('Bearer A1');
    expect(server.sentTo('/first').map((request) => request.token)).toEqual(['A0', 'A1']);
    expect(refresh).toHaveBeenCalledTimes(1);

    const requests = [];
    for (let at = 50; at <= 20_000; at += 50) {
      await jest.advanceTimersByTimeAsync(50);
      requests.push(observe(server.api.get(`/r${at}`)));
      await flush();
    }
    const outcomes = await Promise.all(requests.map((request) => request.result));

    const statuses = outcomes.map((outcome) =>
      outcome.status === 'rejected' && axios.isAxiosError(outcome.reason)
        ? outcome.reason.response?.status
        : outcome.status,
    );
    expect(new Set(statuses)).toEqual(new Set([401]));
    expect(refresh.mock.calls.length).toBeLessThanOrEqual(1 + 20_000 / 5_000);
    const gaps = startedAt.slice(1).map((at, i) => at - startedAt[i]!);
    expect(gaps.filter((gap) => gap < 5_000)).toEqual([]);
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, failures: 0 });
    expect(unhandled).not.toHaveBeenCalled();
  });
});
