import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import {
  type AuthServer,
  type AuthServerOptions,
  startAuthServer,
  type TokenResponse,
} from '../../examples/server/auth-server.js';
import { decodeJwt, signJwt, verifyJwt } from '../../examples/server/jwt.js';

let server: AuthServer | undefined;

async function start(options?: AuthServerOptions): Promise<AuthServer> {
  server = await startAuthServer(options);
  return server;
}

afterEach(async () => {
  const s = server;
  server = undefined;
  await s?.close();
});

interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

async function call<T = Record<string, unknown>>(
  method: string,
  url: string,
  options: { json?: unknown; rawBody?: string; token?: string } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.json !== undefined) body = JSON.stringify(options.json);
  if (options.rawBody !== undefined) body = options.rawBody;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as T };
}

function login(s: AuthServer, username = 'alice') {
  return call<TokenResponse>('POST', `${s.url}/auth/login`, {
    json: { username, password: 'secret' },
  });
}

function refresh(s: AuthServer, refreshToken: string) {
  return call<TokenResponse & { error?: string; error_description?: string }>(
    'POST',
    `${s.url}/auth/refresh`,
    { json: { refreshToken } },
  );
}

function api(s: AuthServer, path: string, token?: string) {
  return call('GET', `${s.url}${path}`, token === undefined ? {} : { token });
}

/** Polls until `condition` holds (for states reached asynchronously on the server). */
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('auth server basics', () => {
  it('listens on 127.0.0.1 with a free port and answers /health', async () => {
    const s = await start();
    expect(s.url).toBe(`http://127.0.0.1:${s.port}`);
    expect(s.port).toBeGreaterThan(0);
    const res = await call('GET', `${s.url}/health`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true });
  });

  it('answers 404 for unknown routes', async () => {
    const s = await start();
    expect((await call('GET', `${s.url}/nope`)).status).toBe(404);
    expect((await call('GET', `${s.url}/auth/login`)).status).toBe(404);
  });

  it('answers CORS preflights and adds Access-Control-Allow-Origin to responses', async () => {
    const s = await start();
    const res = await fetch(`${s.url}/api/messages`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://127.0.0.1:1',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, OPTIONS');
    expect(s.stats.apiRequests).toBe(0);

    const health = await call('GET', `${s.url}/health`);
    expect(health.headers.get('access-control-allow-origin')).toBe('*');
    const denied = await api(s, '/api/messages');
    expect(denied.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('login', () => {
  it('issues an HS256 JWT access token and an opaque refresh token', async () => {
    const s = await start({ secret: 'test-secret', accessTtlMs: 30_000 });
    const before = Date.now();
    const res = await login(s);
    expect(res.status).toBe(200);
    const { accessToken, refreshToken, expiresAt, tokenType } = res.body;
    expect(tokenType).toBe('Bearer');
    expect(typeof refreshToken).toBe('string');
    expect(refreshToken.length).toBeGreaterThan(20);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 30_000);

    const verified = verifyJwt(accessToken, 'test-secret');
    expect(verified.ok).toBe(true);
    const payload = decodeJwt(accessToken)!;
    expect(payload.sub).toBe('alice');
    expect(typeof payload.jti).toBe('string');
    expect(Number.isInteger(payload.iat) && Number.isInteger(payload.exp)).toBe(true);
    expect(payload.exp * 1000).toBeGreaterThanOrEqual(expiresAt);
    expect(payload.exp * 1000 - expiresAt).toBeLessThan(1000);
    expect(verifyJwt(accessToken, 'other-secret')).toEqual({ ok: false, reason: 'bad_signature' });
    expect(s.stats.logins).toBe(1);
  });

  it('rejects bad credentials with 401 and a bad body with 400', async () => {
    const s = await start();
    const wrong = await call('POST', `${s.url}/auth/login`, {
      json: { username: 'alice', password: 'nope' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_credentials');
    const empty = await call('POST', `${s.url}/auth/login`, {
      json: { username: '', password: 'secret' },
    });
    expect(empty.status).toBe(401);
    expect((await call('POST', `${s.url}/auth/login`)).status).toBe(400);
    expect((await call('POST', `${s.url}/auth/login`, { rawBody: '{nope' })).status).toBe(400);
    expect(s.stats.logins).toBe(0);
    expect(s.stats.loginFailures).toBe(4);
  });
});

describe('protected API', () => {
  it('answers { ok, path, user, n } for any /api path with a valid token', async () => {
    const s = await start();
    const { accessToken } = (await login(s, 'bob')).body;
    const a = await api(s, '/api/messages?page=2', accessToken);
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ ok: true, path: '/api/messages', user: 'bob', n: 1 });
    const b = await api(s, '/api/notifications', accessToken);
    expect(b.body).toMatchObject({ path: '/api/notifications', n: 2 });
    expect(s.stats).toMatchObject({ apiRequests: 2, apiOk: 2, api401: 0, staleTokenRequests: 0 });
  });

  it('accepts POST /api/* with a JSON body and echoes it', async () => {
    const s = await start();
    const { accessToken } = (await login(s)).body;
    const res = await call('POST', `${s.url}/api/messages`, {
      token: accessToken,
      json: { text: 'hi' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, path: '/api/messages', body: { text: 'hi' } });
  });

  it('answers 401 invalid_token with WWW-Authenticate for missing, bad or unknown tokens', async () => {
    const s = await start({ secret: 's1' });
    const { accessToken } = (await login(s)).body;
    const forged = signJwt({ sub: 'mallory', iat: 0, exp: 4e9, jti: 'x' }, 'not-the-secret');
    const unknownJti = signJwt({ sub: 'mallory', iat: 0, exp: 4e9, jti: 'x' }, 's1');
    const tampered = `${accessToken.slice(0, -2)}AA`;
    for (const token of [undefined, 'garbage', forged, unknownJti, tampered]) {
      const res = await api(s, '/api/stats', token);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_token');
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    }
    expect(s.stats).toMatchObject({
      apiRequests: 5,
      apiOk: 0,
      api401: 5,
      missingTokenRequests: 1,
      invalidTokenRequests: 4,
    });
  });

  it('answers 401 for an expired token (TTL elapsed)', async () => {
    const s = await start({ accessTtlMs: 0 });
    const { accessToken } = (await login(s)).body;
    const res = await api(s, '/api/messages', accessToken);
    expect(res.status).toBe(401);
    expect(res.body.error_description).toBe('access token expired');
    expect(s.stats).toMatchObject({ api401: 1, expiredTokenRequests: 1, staleTokenRequests: 1 });
  });
});

describe('refresh rotation', () => {
  it('rotates: a new token pair, the old refresh token invalidated', async () => {
    const s = await start();
    const first = (await login(s)).body;
    const second = await refresh(s, first.refreshToken);
    expect(second.status).toBe(200);
    expect(second.body.tokenType).toBe('Bearer');
    expect(second.body.accessToken).not.toBe(first.accessToken);
    expect(second.body.refreshToken).not.toBe(first.refreshToken);
    expect((await api(s, '/api/messages', second.body.accessToken)).status).toBe(200);

    const third = await refresh(s, second.body.refreshToken);
    expect(third.status).toBe(200);
    expect(s.stats).toMatchObject({ refreshCalls: 2, refreshSuccesses: 2, refreshFailures: 0 });
    expect(s.stats.refreshLog).toEqual([
      { at: expect.any(Number), ok: true, status: 200 },
      { at: expect.any(Number), ok: true, status: 200 },
    ]);
  });

  it('still accepts a superseded but unexpired access token, counting it as stale', async () => {
    const s = await start();
    const first = (await login(s)).body;
    await refresh(s, first.refreshToken);
    expect((await api(s, '/api/messages', first.accessToken)).status).toBe(200);
    expect(s.stats).toMatchObject({ apiOk: 1, staleTokenRequests: 1, expiredTokenRequests: 0 });
  });

  it('detects reuse of a rotated refresh token and revokes the whole family', async () => {
    const s = await start();
    const first = (await login(s, 'alice')).body;
    const other = (await login(s, 'carol')).body;
    const second = (await refresh(s, first.refreshToken)).body;

    const reused = await refresh(s, first.refreshToken);
    expect(reused.status).toBe(401);
    expect(reused.body).toEqual({
      error: 'invalid_grant',
      error_description: 'refresh token reuse detected; session revoked',
    });
    // Every token of the family is dead now: the newest refresh token and all access tokens.
    const latest = await refresh(s, second.refreshToken);
    expect(latest.status).toBe(401);
    expect(latest.body.error).toBe('invalid_grant');
    for (const token of [first.accessToken, second.accessToken]) {
      const res = await api(s, '/api/messages', token);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_token');
    }
    // Another login (family) is unaffected.
    expect((await api(s, '/api/messages', other.accessToken)).status).toBe(200);
    expect((await refresh(s, other.refreshToken)).status).toBe(200);

    expect(s.stats).toMatchObject({
      refreshCalls: 4,
      refreshSuccesses: 2,
      refreshFailures: 2,
      reuseDetected: 1,
      familiesRevoked: 1,
      revokedTokenRequests: 2,
    });
    expect(s.stats.refreshLog.map((e) => e.reason)).toEqual([
      undefined,
      'reuse_detected',
      'family_revoked',
      undefined,
    ]);
  });

  it('rejects unknown refresh tokens (401) and a missing refresh token (400)', async () => {
    const s = await start();
    const unknown = await refresh(s, 'not-a-token');
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe('invalid_grant');
    expect((await call('POST', `${s.url}/auth/refresh`)).status).toBe(400);
    expect((await call('POST', `${s.url}/auth/refresh`, { json: {} })).status).toBe(400);
    expect((await call('POST', `${s.url}/auth/refresh`, { rawBody: '{' })).status).toBe(400);
    expect(s.stats).toMatchObject({ refreshCalls: 4, refreshFailures: 4, reuseDetected: 0 });
    expect(s.stats.refreshLog.map((e) => e.reason)).toEqual([
      'unknown_token',
      'bad_request',
      'bad_request',
      'bad_request',
    ]);
  });
});

describe('expireAll and revokeAll', () => {
  it('expireAll makes every token issued so far expired, but not later ones', async () => {
    const s = await start();
    const first = (await login(s)).body;
    s.expireAll();
    const res = await api(s, '/api/messages', first.accessToken);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    // The refresh token still works, and the fresh access token is not affected by the cutoff.
    const next = await refresh(s, first.refreshToken);
    expect(next.status).toBe(200);
    expect((await api(s, '/api/messages', next.body.accessToken)).status).toBe(200);
    expect(s.stats).toMatchObject({ expiredTokenRequests: 1, staleTokenRequests: 1, apiOk: 1 });
  });

  it('revokeAll invalidates every access and refresh token', async () => {
    const s = await start();
    const a = (await login(s, 'a')).body;
    const b = (await login(s, 'b')).body;
    s.revokeAll();
    for (const t of [a, b]) {
      expect((await api(s, '/api/messages', t.accessToken)).status).toBe(401);
      expect((await refresh(s, t.refreshToken)).status).toBe(401);
    }
    expect(s.stats.familiesRevoked).toBe(2);
    // New sessions work.
    const c = (await login(s, 'c')).body;
    expect((await api(s, '/api/messages', c.accessToken)).status).toBe(200);
  });
});

describe('knobs', () => {
  it('accessTtlMs applies to tokens issued after the change', async () => {
    const s = await start();
    const longLived = (await login(s)).body;
    s.knobs.accessTtlMs = 0;
    const expired = (await login(s)).body;
    expect((await api(s, '/api/x', longLived.accessToken)).status).toBe(200);
    expect((await api(s, '/api/x', expired.accessToken)).status).toBe(401);
  });

  it('refreshLatencyMs delays the refresh, which then succeeds', async () => {
    const s = await start({ refreshLatencyMs: 20 });
    const { refreshToken } = (await login(s)).body;
    const res = await refresh(s, refreshToken);
    expect(res.status).toBe(200);
    expect(s.stats.refreshSuccesses).toBe(1);
  });

  it('refreshLatencyMs keeps the refresh in flight; close() cancels the pending delay', async () => {
    const s = await start();
    const { refreshToken } = (await login(s)).body;
    s.knobs.refreshLatencyMs = 60_000;
    const pending = refresh(s, refreshToken).then(
      () => 'answered',
      () => 'connection closed',
    );
    await waitFor(() => s.stats.refreshCalls === 1);
    expect(s.stats.refreshInFlight).toBe(1);
    expect(s.stats.refreshSuccesses).toBe(0);
    await s.close();
    expect(await pending).toBe('connection closed');
    expect(s.stats.refreshInFlight).toBe(0);
  });

  it('refreshFailure: true answers 500 server_error without consuming the token', async () => {
    const s = await start({ refreshFailure: true });
    const { refreshToken } = (await login(s)).body;
    const failed = await refresh(s, refreshToken);
    expect(failed.status).toBe(500);
    expect(failed.body.error).toBe('server_error');
    s.knobs.refreshFailure = false;
    expect((await refresh(s, refreshToken)).status).toBe(200);
    expect(s.stats).toMatchObject({
      refreshCalls: 2,
      refreshFailures: 1,
      refreshSuccesses: 1,
      reuseDetected: 0,
    });
    expect(s.stats.refreshLog[0]).toMatchObject({
      ok: false,
      status: 500,
      reason: 'injected_failure',
    });
  });

  it('refreshFailure as a status: 401 → invalid_grant, 503 → server_error', async () => {
    const s = await start();
    const { refreshToken } = (await login(s)).body;
    s.knobs.refreshFailure = 401;
    const r401 = await refresh(s, refreshToken);
    expect(r401.status).toBe(401);
    expect(r401.body.error).toBe('invalid_grant');
    s.knobs.refreshFailure = 503;
    const r503 = await refresh(s, refreshToken);
    expect(r503.status).toBe(503);
    expect(r503.body.error).toBe('server_error');
    expect(s.stats.refreshFailures).toBe(2);
  });

  it('refreshHang never answers until close(), which resolves despite it', async () => {
    const s = await start({ refreshHang: true });
    const { refreshToken } = (await login(s)).body;
    const pending = refresh(s, refreshToken).then(
      () => 'answered',
      () => 'connection closed',
    );
    await waitFor(() => s.stats.refreshCalls === 1);
    // A health check still works while the refresh hangs.
    expect((await call('GET', `${s.url}/health`)).status).toBe(200);
    expect(s.stats.refreshInFlight).toBe(1);
    await s.close();
    expect(await pending).toBe('connection closed');
    expect(s.stats).toMatchObject({ refreshInFlight: 0, refreshSuccesses: 0, refreshFailures: 0 });
  });

  it('apiLatencyMs delays successful API answers', async () => {
    const s = await start({ apiLatencyMs: 20 });
    const { accessToken } = (await login(s)).body;
    expect((await api(s, '/api/messages', accessToken)).status).toBe(200);

    s.knobs.apiLatencyMs = 60_000;
    const pending = api(s, '/api/messages', accessToken).then(
      () => 'answered',
      () => 'connection closed',
    );
    await waitFor(() => s.stats.apiRequests === 2);
    await s.close();
    expect(await pending).toBe('connection closed');
  });

  it('secret: changing it invalidates previously issued access tokens', async () => {
    const s = await start({ secret: 'one' });
    const { accessToken } = (await login(s)).body;
    s.knobs.secret = 'two';
    expect((await api(s, '/api/messages', accessToken)).status).toBe(401);
    const fresh = (await login(s)).body;
    expect(verifyJwt(fresh.accessToken, 'two').ok).toBe(true);
    expect((await api(s, '/api/messages', fresh.accessToken)).status).toBe(200);
  });
});

describe('counters', () => {
  it('concurrentRefreshMax records how many refreshes were in flight at once', async () => {
    const s = await start();
    const sessions = await Promise.all([login(s, 'a'), login(s, 'b'), login(s, 'c')]);
    await refresh(s, sessions[0]!.body.refreshToken);
    expect(s.stats.concurrentRefreshMax).toBe(1);

    s.knobs.refreshHang = true;
    const pending = sessions.map((r) => refresh(s, r.body.refreshToken).catch(() => undefined));
    await waitFor(() => s.stats.refreshCalls === 4);
    expect(s.stats.refreshInFlight).toBe(3);
    expect(s.stats.concurrentRefreshMax).toBe(3);
    await s.close();
    await Promise.all(pending);
  });

  it('resetStats zeroes counters and the log in place', async () => {
    const s = await start();
    const stats = s.stats;
    const log = stats.refreshLog;
    const { accessToken, refreshToken } = (await login(s)).body;
    await refresh(s, refreshToken);
    await api(s, '/api/messages', accessToken);
    expect(stats.refreshLog).toHaveLength(1);
    s.resetStats();
    expect(s.stats).toBe(stats);
    expect(stats.refreshLog).toBe(log);
    expect(stats).toMatchObject({
      logins: 0,
      refreshCalls: 0,
      refreshSuccesses: 0,
      apiRequests: 0,
      apiOk: 0,
      concurrentRefreshMax: 0,
      refreshLog: [],
    });
    // `n` keeps counting across resets.
    expect((await api(s, '/api/messages', accessToken)).body.n).toBe(2);
  });
});

describe('close()', () => {
  /** Opens a raw keep-alive connection, does one request on it and leaves it open. */
  async function openKeepAlive(s: AuthServer): Promise<{ socket: Socket; closed: Promise<void> }> {
    const socket = connect(s.port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const response = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.includes('{"ok":true}')) resolve(text);
      });
    });
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    expect(await response).toMatch(/^HTTP\/1\.1 200/);
    expect(socket.destroyed).toBe(false);
    return { socket, closed };
  }

  it('destroys open keep-alive connections', async () => {
    const s = await start();
    const { closed } = await openKeepAlive(s);
    await s.close();
    await closed; // the server side hung up
  });

  it('destroys a keep-alive connection that is mid-request (node:http agent)', async () => {
    const s = await start({ apiLatencyMs: 60_000 });
    const { accessToken } = (await login(s)).body;
    const outcome = new Promise<string>((resolve) => {
      const req = httpRequest(
        `${s.url}/api/messages`,
        { headers: { Authorization: `Bearer ${accessToken}`, Connection: 'keep-alive' } },
        () => resolve('answered'),
      );
      req.on('error', () => resolve('connection closed'));
      req.end();
    });
    await waitFor(() => s.stats.apiRequests === 1);
    await s.close();
    expect(await outcome).toBe('connection closed');
  });

  it('is idempotent', async () => {
    const s = await start();
    await Promise.all([s.close(), s.close()]);
    await s.close();
  });
});

describe('jwt helpers', () => {
  it('round-trips claims and rejects tampering, other algorithms and expiry', () => {
    const payload = { sub: 'alice', iat: 1, exp: 2_000_000_000, jti: 'id-1', extra: 'ü' };
    const token = signJwt(payload, 'k');
    expect(token.split('.')).toHaveLength(3);
    expect(token).not.toMatch(/[+/=]/); // base64url, unpadded
    expect(verifyJwt(token, 'k')).toEqual({ ok: true, payload });
    expect(decodeJwt(token)).toEqual(payload);

    const [header, body, sig] = token.split('.') as [string, string, string];
    const otherBody = Buffer.from(JSON.stringify({ ...payload, sub: 'root' })).toString(
      'base64url',
    );
    expect(verifyJwt(`${header}.${otherBody}.${sig}`, 'k').ok).toBe(false);
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    expect(verifyJwt(`${none}.${body}.`, 'k')).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyJwt('a.b', 'k')).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyJwt('a.b.c.d', 'k')).toEqual({ ok: false, reason: 'malformed' });
    expect(decodeJwt('nope')).toBeNull();

    const expired = verifyJwt(token, 'k', 2_000_000_000_000);
    expect(expired).toEqual({ ok: false, reason: 'expired', payload });
  });
});
