/**
 * Heap per waiting request: N requests held while a refresh runs, for each client, against an
 * in-process transport (an axios adapter) so that only the clients' JavaScript is measured, not
 * sockets or a server. The refresh is held open until the heap has been measured (and at least
 * `holdMs`); then it succeeds and every request must succeed with the new token.
 *
 * - The gate and axios-jwt hold requests before they are sent (the token is known to be expired).
 * - axios-auth-refresh sends them with the expired token; each 401 joins the refresh (or, with its
 *   default options, fails at once while the refresh runs).
 * - `bare` is the reference: N bare axios requests pending in the transport, never answered until
 *   the end (an axios request waiting for its response, nothing else).
 */
import { AxiosError, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { signJwt } from '../examples/server/jwt.js';
import type { Tokens } from '../src/index.js';
import { type ClientName, clientFactories } from './clients.js';
import { deferred, heapAfterGc, sleep, turn, until } from './shared.js';

const SECRET = 'bench-secret';

function jwt(expiresAt: number, jti: string): string {
  const exp = Math.floor(expiresAt / 1000);
  return signJwt({ sub: 'alice', iat: exp - 60, exp, jti }, SECRET);
}

/** A JWT-bearing token pair: `expiresAt` (and the JWT's `exp`) `offsetMs` from now. */
export function benchTokens(offsetMs: number, name: string): Tokens {
  const expiresAt = Date.now() + offsetMs;
  return { accessToken: jwt(expiresAt, name), refreshToken: `refresh-${name}`, expiresAt };
}

/**
 * An axios adapter standing in for the network: 200 for the current token, 401 otherwise; in
 * `hold` mode, every request stays pending until `releaseAll()`.
 */
function transport(mode: 'answer' | 'hold') {
  const held: Array<() => void> = [];
  const state = {
    valid: '',
    calls: 0,
    /** Requests answered 401: sent with a token other than the current one. */
    unauthorized: 0,
    get pending() {
      return held.length;
    },
    releaseAll() {
      for (const release of held.splice(0)) release();
    },
    adapter(config: InternalAxiosRequestConfig): Promise<AxiosResponse> {
      state.calls++;
      const response = (status: number): AxiosResponse => ({
        data: { ok: status === 200 },
        status,
        statusText: status === 200 ? 'OK' : 'Unauthorized',
        headers: {},
        config,
        request: {},
      });
      if (mode === 'hold') return new Promise((resolve) => held.push(() => resolve(response(200))));
      if (config.headers.get('Authorization') === `Bearer ${state.valid}`) {
        return Promise.resolve(response(200));
      }
      state.unauthorized++;
      const unauthorized = response(401);
      return Promise.reject(
        new AxiosError(
          'Request failed with status code 401',
          AxiosError.ERR_BAD_REQUEST,
          config,
          unauthorized.request,
          unauthorized,
        ),
      );
    },
  };
  return state;
}

export interface HeldResult {
  client: ClientName;
  n: number;
  /** Heap delta after gc, divided by N. */
  bytesPerRequest: number;
  /** Requests still waiting when the heap was measured (the others had already failed). */
  held: number;
  /** Heap delta divided by the requests that were really waiting; null when none was. */
  bytesPerWaiting: number | null;
  /** How long the refresh was held open, ms. */
  heldMs: number;
  succeeded: number;
  failed: number;
}

/** Resolves once `read()` has not changed for a few polls. */
async function stable(what: string, read: () => string): Promise<void> {
  let last = read();
  let same = 0;
  await until(what, async () => {
    await turn();
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
    return same >= 3;
  });
}

export async function heldRun(
  name: ClientName,
  n: number,
  gc: () => void,
  holdMs: number,
): Promise<HeldResult> {
  const fresh = benchTokens(15 * 60_000, 'fresh');
  const expired = benchTokens(-60_000, 'expired');
  const wire = transport(name === 'bare' ? 'hold' : 'answer');
  const release = deferred<void>();
  let refreshStarted = 0;
  const refresh = async (): Promise<Tokens> => {
    refreshStarted ||= performance.now();
    await release.promise;
    wire.valid = fresh.accessToken;
    return fresh;
  };
  const client = await clientFactories[name]({
    tokens: name === 'bare' ? fresh : expired,
    refresh,
    prepare: (api) => {
      api.defaults.adapter = (config) => wire.adapter(config);
    },
  });

  let succeeded = 0;
  let failed = 0;
  const ok = () => {
    succeeded++;
  };
  const fail = () => {
    failed++;
  };
  const requests = new Array<Promise<void>>(n);
  try {
    const before = await heapAfterGc(gc);
    for (let i = 0; i < n; i++) requests[i] = client.api.get(`/api/items/${i}`).then(ok, fail);
    if (name === 'bare') {
      await until(`${n} bare requests pending`, () => wire.pending === n, 120_000);
    } else {
      await until(`${name}: the refresh to start`, () => refreshStarted > 0, 120_000);
      // The 401s of axios-auth-refresh come back over several turns; wait until nothing moves.
      await stable(`${name}: ${n} requests to settle down`, () =>
        [wire.calls, succeeded, failed].join(),
      );
    }
    const after = await heapAfterGc(gc);
    const held = n - succeeded - failed;

    const started = name === 'bare' ? performance.now() - holdMs : refreshStarted;
    const left = started + holdMs - performance.now();
    if (left > 0) await sleep(left);
    const heldMs = performance.now() - started;
    wire.releaseAll();
    release.resolve();
    await Promise.all(requests);
    return {
      client: name,
      n,
      bytesPerRequest: (after - before) / n,
      held,
      bytesPerWaiting: held > 0 ? (after - before) / held : null,
      heldMs,
      succeeded,
      failed,
    };
  } finally {
    release.resolve();
    wire.releaseAll();
    client.dispose();
  }
}

export interface InProcessStormResult {
  client: ClientName;
  n: number;
  /** Time until all N settled, ms: from setting up the client (for `bare`, from the refresh
   *  before it), through the N requests. */
  ms: number;
  /** CPU time of the process over the same span, ms. */
  cpuMs: number;
  succeeded: number;
  failed: number;
  /** Requests the transport saw with a token other than the current one. */
  stale: number;
  refreshes: number;
}

/**
 * The storm without sockets: N concurrent GETs with an expired token against the in-process
 * transport, a refresh that takes `latencyMs`. What is left is the clients' own JavaScript (and
 * axios'), so the time per request shows how each client scales, apart from Node's HTTP agent.
 * `bare` is the reference: the refresh, then N bare axios requests with the new token.
 */
export async function inProcessStorm(
  name: ClientName,
  n: number,
  latencyMs: number,
): Promise<InProcessStormResult> {
  const fresh = benchTokens(15 * 60_000, 'fresh');
  const expired = benchTokens(-60_000, 'expired');
  const wire = transport('answer');
  const refresh = async (): Promise<Tokens> => {
    await sleep(latencyMs);
    wire.valid = fresh.accessToken;
    return fresh;
  };
  const started = performance.now();
  const cpu = process.cpuUsage();
  if (name === 'bare') await refresh();
  const client = await clientFactories[name]({
    tokens: name === 'bare' ? fresh : expired,
    refresh,
    prepare: (api) => {
      api.defaults.adapter = (config) => wire.adapter(config);
    },
  });
  let succeeded = 0;
  let failed = 0;
  try {
    const requests = new Array<Promise<void>>(n);
    for (let i = 0; i < n; i++) {
      requests[i] = client.api.get(`/api/items/${i}`).then(
        () => {
          succeeded++;
        },
        () => {
          failed++;
        },
      );
    }
    await Promise.all(requests);
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    return {
      client: name,
      n,
      ms,
      cpuMs: (used.user + used.system) / 1000,
      succeeded,
      failed,
      stale: wire.unauthorized,
      refreshes: name === 'bare' ? 1 : client.refreshCalls(),
    };
  } finally {
    client.dispose();
  }
}
