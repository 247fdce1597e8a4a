/**
 * A real OpenID Connect provider (`oidc-provider`, certified) on loopback, with a small protected
 * API beside it, for proving the gate against an identity provider we did not write.
 *
 * Configured as a strict provider is: the refresh token rotates on every use
 * (`rotateRefreshToken: true`), and presenting a rotated one again is treated as theft. That part
 * is oidc-provider's own: its refresh_token grant revokes the whole grant (every access and
 * refresh token of it) when the token presented is already consumed. Nothing here adds to it;
 * this file only counts it, on the provider's `grant.revoked` event.
 *
 * Access tokens are opaque and live ACCESS_TOKEN_TTL_S seconds (default 2; the provider counts in
 * whole seconds, so one lives between ttl - 1 and ttl s); the API checks them with
 * `provider.AccessToken.find()` in this process, with no clock tolerance.
 *
 * Routes, on one port:
 * - the provider's own: `POST /token` (client_secret_basic), discovery, ...
 * - `POST /login`: the first token pair for the account `alice`, minted with the provider's
 *   models (a Grant, an AccessToken and a RefreshToken, as its authorization_code grant would
 *   save them) instead of a browser login; answered in the token endpoint's shape
 * - `GET /api/items/:id`: 200 for a valid access token, 401 for an expired or unknown one
 * - `GET /control/stats`, `POST /control/reset`
 * - `POST /control/fail-token?count=N&mode=drop|503`: the next N token requests have their
 *   connection dropped, or get a 503, before the provider sees them (the refresh token untouched)
 * - `POST /control/ttl?seconds=N`: the lifetime of access tokens issued from now on
 *
 * Prints `{"ready":true,...urls}` as one line on stdout once listening; exits on SIGTERM, SIGINT,
 * or when the IPC channel of the parent that spawned it closes (that parent died).
 *
 * Run: `node examples/oidc/provider.mjs`
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

let accessTokenTtl = Number(process.env.ACCESS_TOKEN_TTL_S ?? 2);
const client = {
  client_id: 'gate-app',
  client_secret: randomBytes(16).toString('hex'),
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/callback'],
};
const account = 'alice';
const scope = 'openid offline_access';

const emptyStats = () => ({
  /** Every request to the token endpoint, the failed-on-purpose ones included. */
  tokenRequests: 0,
  failuresInjected: 0,
  /** refresh_token grant requests the provider handled (answered or refused). */
  refreshCalls: 0,
  refreshSuccesses: 0,
  /** Refresh tokens consumed by a rotation. */
  rotations: 0,
  /** Refused with "refresh token already used": a rotated token presented again. */
  reuseDetected: 0,
  /** Distinct grants the provider revoked. */
  grantsRevoked: 0,
  api200: 0,
  api401: 0,
});
let stats = emptyStats();
let revoked = new Set();
const failNext = { count: 0, mode: 'drop' };

const server = createServer((req, res) => {
  route(req, res).catch((error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    if (!res.headersSent) send(res, 500, { error: 'server_error' });
  });
});
// Longer than any pause of the tests: an idle keep-alive socket the server closes just as the
// client reuses it would fail a request for a reason that is not the one under test.
server.keepAliveTimeout = 60_000;
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [client],
  // Its own signing key (for the id_token of a refresh), so no development key is used.
  jwks: {
    keys: [
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
    ],
  },
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  scopes: ['openid', 'offline_access'],
  rotateRefreshToken: true,
  // The default tolerance (15 s) would keep an expired access token valid at the API.
  clockTolerance: 0,
  ttl: { AccessToken: () => accessTokenTtl, RefreshToken: 3600, Grant: 3600, IdToken: 3600 },
  features: { devInteractions: { enabled: false } },
  cookies: { keys: [randomBytes(16).toString('hex')] },
});
const isRefresh = (ctx) => ctx.oidc?.params?.grant_type === 'refresh_token';
provider.on('grant.success', (ctx) => {
  if (!isRefresh(ctx)) return;
  stats.refreshCalls++;
  stats.refreshSuccesses++;
});
provider.on('grant.error', (ctx, error) => {
  if (!isRefresh(ctx)) return;
  stats.refreshCalls++;
  if (error.error_detail === 'refresh token already used') stats.reuseDetected++;
});
provider.on('refresh_token.consumed', () => stats.rotations++);
provider.on('grant.revoked', (_ctx, grantId) => {
  revoked.add(grantId);
  stats.grantsRevoked = revoked.size;
});
const oidc = provider.callback();

async function route(req, res) {
  const url = new URL(req.url ?? '/', issuer);
  if (req.method === 'POST' && url.pathname === '/token') {
    stats.tokenRequests++;
    if (failNext.count > 0) {
      failNext.count--;
      stats.failuresInjected++;
      if (failNext.mode === 'drop') return void req.socket.destroy();
      return send(res, 503, { error: 'temporarily_unavailable' });
    }
    return oidc(req, res);
  }
  if (req.method === 'POST' && url.pathname === '/login') return send(res, 200, await login());
  const item = /^\/api\/items\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'GET' && item) {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ? await provider.AccessToken.find(bearer) : undefined;
    if (!token) {
      stats.api401++;
      res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
      return send(res, 401, { error: 'invalid_token' });
    }
    stats.api200++;
    return send(res, 200, { id: item[1], sub: token.accountId });
  }
  if (req.method === 'GET' && url.pathname === '/control/stats') return send(res, 200, stats);
  if (req.method === 'POST' && url.pathname === '/control/reset') {
    stats = emptyStats();
    revoked = new Set();
    failNext.count = 0;
    return send(res, 200, stats);
  }
  if (req.method === 'POST' && url.pathname === '/control/fail-token') {
    failNext.count = Number(url.searchParams.get('count') ?? 1);
    failNext.mode = url.searchParams.get('mode') === '503' ? '503' : 'drop';
    return send(res, 200, failNext);
  }
  if (req.method === 'POST' && url.pathname === '/control/ttl') {
    accessTokenTtl = Number(url.searchParams.get('seconds'));
    return send(res, 200, { seconds: accessTokenTtl });
  }
  return oidc(req, res);
}

/** What a login would end with: a grant for `alice` and its first token pair. */
async function login() {
  const found = await provider.Client.find(client.client_id);
  const grant = new provider.Grant({ accountId: account, clientId: found.clientId });
  grant.addOIDCScope(scope);
  const grantId = await grant.save();
  const issued = { accountId: account, client: found, grantId, gty: 'authorization_code', scope };
  const accessToken = new provider.AccessToken(issued);
  return {
    access_token: await accessToken.save(),
    refresh_token: await new provider.RefreshToken(issued).save(),
    expires_in: accessToken.expiration,
    token_type: 'Bearer',
    scope,
  };
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function stop() {
  server.closeAllConnections();
  server.close(() => process.exit(0));
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// Started with an IPC channel (the test helper): gone with its parent, even one killed hard.
if (process.channel) process.once('disconnect', stop);

process.stdout.write(
  `${JSON.stringify({
    ready: true,
    issuer,
    tokenEndpoint: `${issuer}/token`,
    loginUrl: `${issuer}/login`,
    apiUrl: `${issuer}/api`,
    controlUrl: `${issuer}/control`,
    clientId: client.client_id,
    clientSecret: client.client_secret,
  })}\n`,
);
