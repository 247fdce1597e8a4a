/**
 * A small but real auth server with rotating refresh tokens, used by the demo, the integration
 * tests and the browser/benchmark suites. It behaves like identity providers that rotate refresh
 * tokens (Auth0, Okta): every refresh returns a new refresh token and invalidates the old one, and
 * presenting an already-rotated refresh token is treated as theft, revoking the whole session
 * ("token family"). That is exactly the failure a client without single-flight refresh runs into:
 * two concurrent refreshes with the same refresh token, the second of which logs the user out.
 *
 * Routes:
 * - `POST /auth/login` `{ username, password }` → {@link TokenResponse} (any username, password `secret`)
 * - `POST /auth/refresh` `{ refreshToken }` → {@link TokenResponse}; with the `dedupe` option,
 *   behind `createRefreshDeduper` (axios-refresh-gate/server) keyed by the presented refresh token:
 *   racing refreshes with one token get one new pair, a late duplicate within `graceMs` too
 * - `GET|POST /api/*` with `Authorization: Bearer <accessToken>` → `{ ok, path, user, n }`
 * - `GET /health` → `{ ok: true }`
 * - `OPTIONS *` → CORS preflight
 *
 * Knobs (`server.knobs`, read on every request) inject the failures of real life: dropped
 * connections, 5xx with `Retry-After`, hangs, latency, a clock that is off. The README's "The
 * example auth server" lists them.
 *
 * Built on `node:http` only and kept cheap per request, because benchmarks fire up to 100,000
 * concurrent requests at it: no logging, one HMAC per API request, O(1) map lookups.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  createRefreshDeduper,
  isRefreshDedupeError,
  type RefreshDeduper,
} from '../../src/server/index.js';
import { signJwt, verifyJwt } from './jwt.js';

/** Settings read on every request; mutate `server.knobs` to change behaviour on the fly. */
export interface AuthServerKnobs {
  /** Lifetime of newly issued access tokens, in ms. Default 60 000. */
  accessTtlMs: number;
  /** Delay before `POST /auth/refresh` is processed, in ms. Default 0. */
  refreshLatencyMs: number;
  /**
   * Make `POST /auth/refresh` fail without touching the refresh token (as if the server broke
   * before processing it, so the token stays usable once the failure is turned off).
   * `true` → 500 `{ error: 'server_error' }`; a number → that status, with `invalid_grant` for
   * 400/401/403 and `server_error` otherwise. Default `false`.
   */
  refreshFailure: boolean | number;
  /** `POST /auth/refresh` never answers; such requests stay pending until `close()`. Default `false`. */
  refreshHang: boolean;
  /**
   * The next this many `POST /auth/refresh` requests have their connection dropped before they
   * are processed (a phone losing signal): no answer, the refresh token untouched. Counts down.
   * Default 0.
   */
  refreshDrops: number;
  /** With a `refreshFailure` of 429 or 503: the `Retry-After` header, in seconds. Default none. */
  refreshRetryAfterS: number | undefined;
  /** Delay before a successful `/api/*` answer, in ms (401s answer at once). Default 0. */
  apiLatencyMs: number;
  /**
   * How far the server's clock is ahead of this machine's, in ms (negative: behind), as seen by a
   * device whose clock is wrong by the opposite amount. The server issues, judges expiry and
   * writes its `Date` header on that clock. Default 0.
   */
  clockOffsetMs: number;
  /** HS256 key. Changing it invalidates every access token issued so far. Default: random. */
  secret: string;
}

export interface AuthServerOptions extends Partial<AuthServerKnobs> {
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /**
   * Puts `POST /auth/refresh` behind a refresh deduper keyed by the presented refresh token:
   * `true` makes one with the defaults (disposed of by `close()`), or pass your own (e.g. on a
   * shared Redis, for several server instances; yours to dispose of). A call that waits past the
   * deduper's `waitTimeoutMs` gets 429 `slow_down`. Default `false`.
   */
  dedupe?: boolean | RefreshDeduper;
}

/** Body of a successful login or refresh. */
export interface TokenResponse {
  accessToken: string;
  refreshToken: string;
  /**
   * Access-token expiry, epoch ms on the server's clock (more precise than the JWT's `exp`, which
   * is in seconds).
   */
  expiresAt: number;
  /**
   * The access token's lifetime in seconds, as OAuth's `expires_in`, to the millisecond. A client
   * whose clock may be wrong computes its expiry from this, on its own clock.
   */
  expiresIn: number;
  tokenType: 'Bearer';
}

export interface RefreshLogEntry {
  /** Epoch ms when the answer was sent. */
  at: number;
  ok: boolean;
  /** HTTP status sent. */
  status: number;
  /** Why it failed: `bad_request`, `injected_failure`, `unknown_token`, `family_revoked`, `reuse_detected`, `dedupe_timeout`. */
  reason?: string;
  /** With `dedupe`: the pair came from another call's rotation (no rotation of its own). */
  deduped?: boolean;
}

/** Live counters. The object is updated in place, so a reference to it stays current. */
export interface AuthServerStats {
  logins: number;
  loginFailures: number;
  /** Every `POST /auth/refresh` received, including ones that fail or hang. */
  refreshCalls: number;
  refreshSuccesses: number;
  /** With `dedupe`: refreshes answered 200 with the pair of another call's rotation. */
  refreshDeduped: number;
  /** Refreshes answered with a non-200 status. */
  refreshFailures: number;
  /** Refreshes that presented an already-rotated refresh token. */
  reuseDetected: number;
  familiesRevoked: number;
  /** Refreshes received but not yet answered (gauge; not reset by `resetStats()`). */
  refreshInFlight: number;
  /** Highest `refreshInFlight` seen since start or the last `resetStats()`. */
  concurrentRefreshMax: number;
  /** Every `/api/*` request received (not counting CORS preflights). */
  apiRequests: number;
  apiOk: number;
  api401: number;
  /**
   * API requests whose access token had been valid but is now stale: expired (TTL or
   * `expireAll()`), or superseded by a newer access token of the same family. Superseded but
   * unexpired tokens are still accepted, as with real providers; expired ones get a 401.
   */
  staleTokenRequests: number;
  /** API 401s because the token expired (a subset of `staleTokenRequests`). */
  expiredTokenRequests: number;
  /** API 401s because the token's family was revoked. */
  revokedTokenRequests: number;
  /** API 401s because no bearer token was sent. */
  missingTokenRequests: number;
  /** API 401s because the token was malformed, badly signed or unknown to this server. */
  invalidTokenRequests: number;
  /** One entry per answered refresh, oldest first. */
  refreshLog: RefreshLogEntry[];
}

export interface AuthServer {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Mutable settings; changes apply to the next request received. */
  readonly knobs: AuthServerKnobs;
  readonly stats: AuthServerStats;
  /** Zeroes the counters and clears `refreshLog` in place (`refreshInFlight` stays a live gauge). */
  resetStats(): void;
  /** Treats every access token issued so far as expired, without waiting for its TTL. */
  expireAll(): void;
  /** Revokes every token family: all access and refresh tokens issued so far become invalid. */
  revokeAll(): void;
  /**
   * Stops listening and destroys every open socket, so idle keep-alive connections and pending
   * (e.g. hanging) requests cannot keep it waiting. Idempotent.
   */
  close(): Promise<void>;
}

/** A login session: every token pair issued by one login and its refreshes. */
interface Family {
  user: string;
  revoked: boolean;
  /** Serial of the newest access token issued in this family. */
  latestSerial: number;
}

interface AccessRecord {
  family: Family;
  /**
   * Issue order across the whole server. `expireAll()` records the last serial rather than a
   * timestamp because several tokens can be issued within the same millisecond, before or after
   * the call; a serial cutoff is exact.
   */
  serial: number;
  /** Epoch ms; authoritative for expiry (the JWT `exp` only has one-second resolution). */
  expiresAt: number;
}

interface RefreshRecord {
  family: Family;
  /** Set once rotated; presenting it again is reuse. */
  used: boolean;
}

const DEFAULT_KNOBS: Omit<AuthServerKnobs, 'secret'> = {
  accessTtlMs: 60_000,
  refreshLatencyMs: 0,
  refreshFailure: false,
  refreshHang: false,
  refreshDrops: 0,
  refreshRetryAfterS: undefined,
  apiLatencyMs: 0,
  clockOffsetMs: 0,
};

/** Bodies are tiny JSON documents; anything larger is refused rather than buffered. */
const MAX_BODY_BYTES = 64 * 1024;

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  // Lets browser code read the challenge on a 401.
  'Access-Control-Expose-Headers': 'WWW-Authenticate',
} as const;

const PREFLIGHT_HEADERS = {
  ...CORS_HEADERS,
  'Access-Control-Allow-Headers': 'Authorization, Content-Type',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  'Access-Control-Max-Age': '600',
  'Content-Length': '0',
} as const;

const INVALID_TOKEN_HEADERS = { 'WWW-Authenticate': 'Bearer error="invalid_token"' } as const;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.error));
  }
}

/** A refused refresh: the status, body and log reason to answer with. */
class RefreshFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly reason: string,
  ) {
    super(String(body.error));
  }
}

function createStats(): AuthServerStats {
  return {
    logins: 0,
    loginFailures: 0,
    refreshCalls: 0,
    refreshSuccesses: 0,
    refreshDeduped: 0,
    refreshFailures: 0,
    reuseDetected: 0,
    familiesRevoked: 0,
    refreshInFlight: 0,
    concurrentRefreshMax: 0,
    apiRequests: 0,
    apiOk: 0,
    api401: 0,
    staleTokenRequests: 0,
    expiredTokenRequests: 0,
    revokedTokenRequests: 0,
    missingTokenRequests: 0,
    invalidTokenRequests: 0,
    refreshLog: [],
  };
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  // The client may be gone (or close() destroyed the socket while we were waiting).
  if (res.destroyed || res.headersSent) return;
  const json = JSON.stringify(body);
  res.writeHead(status, {
    ...CORS_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(json)),
    ...headers,
  });
  res.end(json);
}

/**
 * Reads and parses a JSON body. Resolves `undefined` for an empty body; throws a 400/413
 * {@link HttpError} for invalid JSON or an oversized body.
 */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(413, { error: 'invalid_request', error_description: 'body too large' });
    }
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
  } catch {
    throw new HttpError(400, { error: 'invalid_request', error_description: 'invalid JSON body' });
  }
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null
    ? (body as Record<string, unknown>)[name]
    : undefined;
}

/**
 * Starts the server on 127.0.0.1 and resolves once it is listening. All state (families, tokens)
 * lives in memory for the server's lifetime, which is fine for a test server: only logins and
 * refreshes add entries, not API requests.
 */
export async function startAuthServer(options: AuthServerOptions = {}): Promise<AuthServer> {
  const { port: requestedPort = 0, dedupe = false, ...knobOptions } = options;
  const ownsDeduper = dedupe === true;
  const deduper: RefreshDeduper | undefined =
    dedupe === true ? createRefreshDeduper() : dedupe === false ? undefined : dedupe;
  const knobs: AuthServerKnobs = {
    ...DEFAULT_KNOBS,
    secret: randomBytes(32).toString('base64url'),
    ...knobOptions,
  };
  const stats = createStats();

  const accessTokens = new Map<string, AccessRecord>(); // by jti
  const refreshTokens = new Map<string, RefreshRecord>();
  const families = new Set<Family>();
  let issueSerial = 0;
  /** Access tokens with a serial at or below this are expired (see `expireAll`). */
  let expiredUpToSerial = 0;
  /** Sequence number `n` in API answers; unlike `stats`, never reset. */
  let apiSeq = 0;

  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let closing: Promise<void> | undefined;

  /** setTimeout that close() can cancel, so a pending latency never outlives the server. */
  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  }

  function revokeFamily(family: Family): void {
    if (family.revoked) return;
    family.revoked = true;
    stats.familiesRevoked++;
  }

  /** The server's clock. */
  const now = (): number => Date.now() + knobs.clockOffsetMs;

  function issueTokens(family: Family): TokenResponse {
    const issuedAt = now();
    const serial = ++issueSerial;
    const jti = randomUUID();
    const expiresAt = issuedAt + knobs.accessTtlMs;
    const accessToken = signJwt(
      // Round exp up so the JWT never claims an earlier expiry than `expiresAt`.
      { sub: family.user, iat: Math.floor(issuedAt / 1000), exp: Math.ceil(expiresAt / 1000), jti },
      knobs.secret,
    );
    accessTokens.set(jti, { family, serial, expiresAt });
    family.latestSerial = serial;
    const refreshToken = randomBytes(32).toString('base64url');
    refreshTokens.set(refreshToken, { family, used: false });
    return {
      accessToken,
      refreshToken,
      expiresAt,
      expiresIn: knobs.accessTtlMs / 1000,
      tokenType: 'Bearer',
    };
  }

  async function handleLogin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = await readJson(req);
      if (body === undefined) {
        throw new HttpError(400, { error: 'invalid_request', error_description: 'body required' });
      }
    } catch (error) {
      stats.loginFailures++;
      throw error;
    }
    const username = field(body, 'username');
    if (typeof username !== 'string' || username === '' || field(body, 'password') !== 'secret') {
      stats.loginFailures++;
      throw new HttpError(401, {
        error: 'invalid_credentials',
        error_description: 'invalid username or password',
      });
    }
    const family: Family = { user: username, revoked: false, latestSerial: 0 };
    families.add(family);
    stats.logins++;
    sendJson(res, 200, issueTokens(family));
  }

  async function handleRefresh(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.refreshCalls++;
    stats.refreshInFlight++;
    if (stats.refreshInFlight > stats.concurrentRefreshMax) {
      stats.concurrentRefreshMax = stats.refreshInFlight;
    }
    // 'close' fires once the answer is flushed or the connection dies (including hung requests
    // destroyed by close()), so the gauge cannot leak.
    res.once('close', () => {
      stats.refreshInFlight--;
    });
    // Snapshot the knobs at arrival: a change applies to the next request, not to this one.
    const { refreshLatencyMs, refreshHang, refreshFailure } = knobs;

    const fail = (status: number, body: Record<string, unknown>, reason: string): void => {
      stats.refreshFailures++;
      stats.refreshLog.push({ at: Date.now(), ok: false, status, reason });
      const retryAfter = knobs.refreshRetryAfterS;
      sendJson(
        res,
        status,
        body,
        retryAfter !== undefined && (status === 429 || status === 503)
          ? { 'Retry-After': String(retryAfter) }
          : undefined,
      );
    };
    if (knobs.refreshDrops > 0) {
      knobs.refreshDrops--;
      stats.refreshFailures++;
      stats.refreshLog.push({ at: Date.now(), ok: false, status: 0, reason: 'dropped' });
      req.socket.destroy();
      return;
    }

    let body: unknown;
    try {
      body = await readJson(req);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      return fail(error.status, error.body, 'bad_request');
    }
    const token = field(body, 'refreshToken');

    if (!deduper) {
      try {
        const tokens = await rotate(token, { refreshLatencyMs, refreshHang, refreshFailure });
        stats.refreshLog.push({ at: Date.now(), ok: true, status: 200 });
        sendJson(res, 200, tokens);
      } catch (error) {
        if (!(error instanceof RefreshFailure)) throw error;
        fail(error.status, error.body, error.reason);
      }
      return;
    }

    if (typeof token !== 'string' || token === '') {
      return fail(
        400,
        { error: 'invalid_request', error_description: 'refreshToken is required' },
        'bad_request',
      );
    }
    let rotated = false;
    try {
      const tokens = await deduper.dedupe(token, () => {
        rotated = true;
        return rotate(token, { refreshLatencyMs, refreshHang, refreshFailure });
      });
      if (!rotated) stats.refreshDeduped++;
      stats.refreshLog.push(
        rotated
          ? { at: Date.now(), ok: true, status: 200 }
          : { at: Date.now(), ok: true, status: 200, deduped: true },
      );
      sendJson(res, 200, tokens);
    } catch (error) {
      if (error instanceof RefreshFailure) return fail(error.status, error.body, error.reason);
      if (isRefreshDedupeError(error)) {
        return fail(
          error.status,
          { error: 'slow_down', error_description: error.message },
          'dedupe_timeout',
        );
      }
      throw error;
    }
  }

  /**
   * The rotation itself: checks the presented refresh token, invalidates it and issues a new
   * pair. Throws a {@link RefreshFailure} for every refusal; never settles for `refreshHang`.
   */
  async function rotate(
    token: unknown,
    snapshot: Pick<AuthServerKnobs, 'refreshLatencyMs' | 'refreshHang' | 'refreshFailure'>,
  ): Promise<TokenResponse> {
    const { refreshLatencyMs, refreshHang, refreshFailure } = snapshot;
    if (refreshLatencyMs > 0) await delay(refreshLatencyMs);
    // Never answered; close() destroys the socket.
    if (refreshHang) return new Promise<never>(() => {});
    if (refreshFailure !== false) {
      const status = refreshFailure === true ? 500 : refreshFailure;
      const grant = status === 400 || status === 401 || status === 403;
      throw new RefreshFailure(
        status,
        grant
          ? { error: 'invalid_grant', error_description: 'refresh rejected (injected failure)' }
          : { error: 'server_error', error_description: 'refresh failed (injected failure)' },
        'injected_failure',
      );
    }
    if (typeof token !== 'string' || token === '') {
      throw new RefreshFailure(
        400,
        { error: 'invalid_request', error_description: 'refreshToken is required' },
        'bad_request',
      );
    }
    const record = refreshTokens.get(token);
    if (record === undefined) {
      throw new RefreshFailure(
        401,
        { error: 'invalid_grant', error_description: 'unknown refresh token' },
        'unknown_token',
      );
    }
    if (record.family.revoked) {
      throw new RefreshFailure(
        401,
        { error: 'invalid_grant', error_description: 'refresh token revoked' },
        'family_revoked',
      );
    }
    if (record.used) {
      // Automatic reuse detection: a rotated token coming back means two parties hold the
      // session (or a client refreshed twice concurrently), so the whole family is revoked.
      stats.reuseDetected++;
      revokeFamily(record.family);
      throw new RefreshFailure(
        401,
        {
          error: 'invalid_grant',
          error_description: 'refresh token reuse detected; session revoked',
        },
        'reuse_detected',
      );
    }
    record.used = true;
    stats.refreshSuccesses++;
    return issueTokens(record.family);
  }

  async function handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    method: string,
  ): Promise<void> {
    stats.apiRequests++;
    const body = method === 'POST' ? await readJson(req) : undefined;

    const unauthorized = (description: string): void => {
      stats.api401++;
      sendJson(
        res,
        401,
        { error: 'invalid_token', error_description: description },
        INVALID_TOKEN_HEADERS,
      );
    };

    const auth = req.headers.authorization;
    if (auth === undefined || !auth.startsWith('Bearer ') || auth.length === 7) {
      stats.missingTokenRequests++;
      return unauthorized('missing bearer token');
    }
    const at = now();
    const verified = verifyJwt(auth.slice(7), knobs.secret, at);
    // An expired JWT still carries its payload (its signature was checked): it is one of ours,
    // so it counts as stale rather than invalid. Expiry itself is decided below from the record,
    // which has ms precision; `exp` is rounded up, so it never expires before the record does.
    const payload = verified.payload;
    const record = payload === undefined ? undefined : accessTokens.get(payload.jti);
    if (record === undefined) {
      stats.invalidTokenRequests++;
      return unauthorized('invalid token');
    }
    if (record.family.revoked) {
      stats.revokedTokenRequests++;
      return unauthorized('session revoked');
    }
    if (at >= record.expiresAt || record.serial <= expiredUpToSerial) {
      stats.staleTokenRequests++;
      stats.expiredTokenRequests++;
      return unauthorized('access token expired');
    }
    if (record.serial < record.family.latestSerial) stats.staleTokenRequests++;

    const n = ++apiSeq;
    stats.apiOk++;
    const latency = knobs.apiLatencyMs;
    if (latency > 0) await delay(latency);
    const answer: Record<string, unknown> = { ok: true, path, user: record.family.user, n };
    if (body !== undefined) answer.body = body;
    sendJson(res, 200, answer);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);

    if (knobs.clockOffsetMs !== 0) res.setHeader('Date', new Date(now()).toUTCString());
    if (method === 'OPTIONS') {
      res.writeHead(204, PREFLIGHT_HEADERS);
      res.end();
      return;
    }
    if (path.startsWith('/api/') && (method === 'GET' || method === 'POST')) {
      return handleApi(req, res, path, method);
    }
    if (method === 'POST' && path === '/auth/refresh') return handleRefresh(req, res);
    if (method === 'POST' && path === '/auth/login') return handleLogin(req, res);
    if (method === 'GET' && path === '/health') return sendJson(res, 200, { ok: true });
    sendJson(res, 404, { error: 'not_found' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) sendJson(res, error.status, error.body);
      else if (!res.destroyed) sendJson(res, 500, { error: 'server_error' });
    });
  });
  // Unlimited connections (the default, made explicit) and a keep-alive window long enough for
  // benchmark clients to reuse sockets between bursts; close() destroys idle sockets anyway.
  server.maxConnections = Number.POSITIVE_INFINITY;
  server.keepAliveTimeout = 10_000;
  server.headersTimeout = 15_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A large backlog so bursts of thousands of simultaneous connects are not refused.
    server.listen({ host: '127.0.0.1', port: requestedPort, backlog: 8192 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    knobs,
    stats,
    resetStats() {
      const inFlight = stats.refreshInFlight;
      const log = stats.refreshLog;
      Object.assign(stats, createStats(), {
        refreshInFlight: inFlight,
        concurrentRefreshMax: inFlight,
        refreshLog: log,
      });
      log.length = 0;
    },
    expireAll() {
      expiredUpToSerial = issueSerial;
    },
    revokeAll() {
      for (const family of families) revokeFamily(family);
    },
    close() {
      closing ??= (async () => {
        if (ownsDeduper) deduper?.dispose();
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        const serverClosed = new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
        });
        // server.close() only stops accepting; it would otherwise wait for keep-alive and
        // in-flight (possibly hanging) requests to finish. Wait for every socket's own 'close'
        // event too: the server's callback fires as soon as its connection count drops, before
        // libuv has closed the handles and so before the responses' 'close' events (which keep
        // `stats.refreshInFlight` exact) have run. Ours are registered after node:http's own
        // socket listeners, so they run after those.
        const socketsClosed = [...sockets].map(
          (socket) => new Promise<void>((resolve) => socket.once('close', () => resolve())),
        );
        for (const socket of sockets) socket.destroy();
        await Promise.all([serverClosed, ...socketsClosed]);
      })();
      return closing;
    },
  };
}
