import { ClockSkew } from './clock-skew.js';
import { RefreshGateError } from './errors.js';
import { expected } from './format.js';
import { inProcessCoordinator } from './in-process-coordinator.js';
import { readJwtExpiry } from './jwt.js';
import { defaultLogger } from './logger.js';
import { memoryStore } from './memory-store.js';
import type { OriginPolicy } from './origins.js';
import { DEFAULT_RETRY, isTerminalFailure, type RetryPolicy } from './refresh-retry.js';
import type { TokenPlacement } from './token-placement.js';
import { toTokens } from './tokens.js';
import type { Coordinator, GateLogger, RefreshGateOptions, TokenStore, Tokens } from './types.js';

/** The options with every default filled in, resolved once at creation. */
export interface ResolvedOptions {
  readonly refresh: RefreshGateOptions['refresh'];
  readonly store: TokenStore;
  readonly initialTokens: Tokens | undefined;
  readonly statusCodes: readonly number[];
  readonly shouldRefresh: RefreshGateOptions['shouldRefresh'];
  readonly header: string;
  readonly scheme: string;
  readonly applyToken: RefreshGateOptions['applyToken'];
  /** `undefined`: the default rule (relative URLs and the instance's baseURL origin). */
  readonly allowedOrigins: readonly (string | RegExp)[] | undefined;
  readonly refreshTimeoutMs: number;
  readonly queueTimeoutMs: number;
  readonly cooldownMs: number;
  readonly refreshBeforeExpiryMs: number;
  readonly getExpiry: (tokens: Tokens) => number | undefined;
  readonly maxReplays: number;
  readonly coordinator: Coordinator;
  /** Whether the gate made the coordinator (and so disposes of it). */
  readonly ownsCoordinator: boolean;
  readonly onRefreshFailed: RefreshGateOptions['onRefreshFailed'];
  readonly retry: RetryPolicy;
  /** The server clock's estimate (`clockSkew: 'auto'`), used by the default getExpiry. */
  readonly clockSkew: ClockSkew | undefined;
  readonly isTerminal: (error: unknown) => boolean;
  readonly logger: GateLogger;
  /** The origin rule, when several gates share one (a group's). */
  readonly origins?: OriginPolicy | undefined;
  /**
   * How tokens go on requests and which each request carried, when several gates share it (a
   * group's: a request is one key's, and a parked gate's next machine reads what it was sent with).
   */
  readonly placement?: TokenPlacement | undefined;
}

// Its own expiresAt only: one a polluted prototype lends every object is none.
/**
 * The default `getExpiry`: the earlier of `expiresAt` (this device's clock) and the JWT's `exp`
 * (the server's clock, turned into this device's with the skew estimate): providers round `exp`
 * down to the second, while `expires_in` counts from the response.
 */
const expiryReader =
  (skew: ClockSkew | undefined) =>
  (tokens: Tokens): number | undefined => {
    const at = Object.hasOwn(tokens, 'expiresAt') ? tokens.expiresAt : undefined;
    const exp = readJwtExpiry(tokens.accessToken);
    const local = exp === undefined ? undefined : exp - (skew?.offset ?? 0);
    if (at === undefined) return local;
    return local === undefined ? at : Math.min(at, local);
  };

const KNOWN = new Set<string>([
  'refresh',
  'store',
  'initialTokens',
  'statusCodes',
  'shouldRefresh',
  'header',
  'scheme',
  'applyToken',
  'allowedOrigins',
  'refreshTimeoutMs',
  'queueTimeoutMs',
  'cooldownMs',
  'refreshBeforeExpiryMs',
  'getExpiry',
  'maxReplays',
  'coordinator',
  'onRefreshFailed',
  'refreshRetry',
  'isTerminal',
  'clockSkew',
  'logger',
]);

// A header name is an RFC 9110 token.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function fail(name: string, what: string, value: unknown): never {
  throw new RefreshGateError('INVALID_OPTIONS', expected(name, what, value));
}

function optionalFunction(options: Record<string, unknown>, name: string) {
  const value = options[name];
  if (value !== undefined && typeof value !== 'function') fail(name, 'a function', value);
}

function duration(options: Record<string, unknown>, name: string, fallback: number): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(name, 'a finite number >= 0', value);
  }
  return value;
}

function retryPolicy(value: unknown): RetryPolicy {
  if (value === undefined) return DEFAULT_RETRY;
  if (value === false) return { ...DEFAULT_RETRY, retries: 0 };
  if (typeof value !== 'object' || value === null) {
    fail('refreshRetry', 'false or an object { retries?, baseDelayMs?, maxDelayMs? }', value);
  }
  const given = value as Record<string, unknown>;
  const retries = given.retries ?? DEFAULT_RETRY.retries;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > 10) {
    fail('refreshRetry.retries', 'an integer from 0 to 10', retries);
  }
  const named = {
    'refreshRetry.baseDelayMs': given.baseDelayMs,
    'refreshRetry.maxDelayMs': given.maxDelayMs,
  };
  return {
    retries,
    baseDelayMs: duration(named, 'refreshRetry.baseDelayMs', DEFAULT_RETRY.baseDelayMs),
    maxDelayMs: duration(named, 'refreshRetry.maxDelayMs', DEFAULT_RETRY.maxDelayMs),
  };
}

function normalizeOrigin(entry: string): string {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return fail(
      'allowedOrigins',
      'a list of origins such as "https://api.example.com" or RegExps',
      entry,
    );
  }
  if (url.origin === 'null' || url.pathname !== '/' || url.search || url.hash) {
    fail('allowedOrigins', 'a list of origins (scheme://host[:port], no path)', entry);
  }
  return url.origin;
}

/** Validates `options` and fills in the defaults; throws `INVALID_OPTIONS` naming the option. */
export function resolveOptions(input: RefreshGateOptions): ResolvedOptions {
  if (typeof input !== 'object' || input === null) fail('options', 'an object', input);
  const options = input as unknown as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    // `null` is never a default: omit the option (or pass undefined) for that.
    if (options[key] === null) fail(key, 'omitted or a valid value, not null', null);
    if (!KNOWN.has(key)) {
      throw new RefreshGateError(
        'INVALID_OPTIONS',
        `Unknown option \`${key}\`; the options are ${[...KNOWN].join(', ')}`,
      );
    }
  }
  if (typeof input.refresh !== 'function')
    fail('refresh', 'a function (ctx) => Promise<Tokens | string>', input.refresh);
  for (const name of [
    'shouldRefresh',
    'applyToken',
    'getExpiry',
    'onRefreshFailed',
    'isTerminal',
  ]) {
    optionalFunction(options, name);
  }

  const store = input.store ?? memoryStore();
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.get !== 'function' ||
    typeof store.set !== 'function' ||
    typeof store.clear !== 'function' ||
    (store.subscribe !== undefined && typeof store.subscribe !== 'function')
  ) {
    fail('store', 'a TokenStore with get, set and clear functions', store);
  }

  let initialTokens: Tokens | undefined;
  if (input.initialTokens !== undefined) {
    if (typeof input.initialTokens !== 'object') {
      fail(
        'initialTokens',
        'a Tokens object { accessToken, refreshToken?, expiresAt? }',
        input.initialTokens,
      );
    }
    try {
      initialTokens = toTokens(input.initialTokens, null, 'initialTokens');
    } catch (error) {
      throw new RefreshGateError('INVALID_OPTIONS', (error as Error).message, { cause: error });
    }
  }

  const statusCodes = input.statusCodes ?? [401];
  if (
    !Array.isArray(statusCodes) ||
    statusCodes.length === 0 ||
    !statusCodes.every((code) => Number.isInteger(code) && code >= 100 && code <= 599)
  ) {
    fail('statusCodes', 'a non-empty array of HTTP status codes (100-599)', statusCodes);
  }

  const header = input.header ?? 'Authorization';
  if (typeof header !== 'string' || !HEADER_NAME.test(header))
    fail('header', 'a valid HTTP header name', header);
  const scheme = input.scheme ?? 'Bearer';
  if (typeof scheme !== 'string' || (scheme !== '' && !HEADER_NAME.test(scheme))) {
    fail('scheme', "an auth scheme such as 'Bearer', or '' for the bare token", scheme);
  }

  let allowedOrigins: (string | RegExp)[] | undefined;
  if (input.allowedOrigins !== undefined) {
    if (!Array.isArray(input.allowedOrigins))
      fail('allowedOrigins', 'an array of origins or RegExps', input.allowedOrigins);
    allowedOrigins = input.allowedOrigins.map((entry) => {
      if (entry instanceof RegExp) return entry;
      if (typeof entry !== 'string')
        return fail('allowedOrigins', 'an array of origin strings or RegExps', entry);
      return normalizeOrigin(entry);
    });
  }

  const maxReplays = input.maxReplays ?? 1;
  if (!Number.isInteger(maxReplays) || maxReplays < 0)
    fail('maxReplays', 'an integer >= 0', maxReplays);

  const skewOption = options.clockSkew ?? 'auto';
  if (skewOption !== 'auto' && skewOption !== false)
    fail('clockSkew', "'auto' or false", skewOption);
  const clockSkew = skewOption === 'auto' ? new ClockSkew() : undefined;
  const coordinator = input.coordinator ?? inProcessCoordinator();
  if (
    typeof coordinator !== 'object' ||
    coordinator === null ||
    typeof coordinator.runExclusive !== 'function'
  ) {
    fail('coordinator', 'a Coordinator with a runExclusive function', coordinator);
  }

  const logger = input.logger ?? defaultLogger;
  if (
    typeof logger !== 'object' ||
    logger === null ||
    typeof logger.warn !== 'function' ||
    typeof logger.debug !== 'function'
  ) {
    fail('logger', 'an object with debug and warn functions (console fits)', logger);
  }

  return {
    refresh: input.refresh,
    store,
    initialTokens,
    statusCodes,
    shouldRefresh: input.shouldRefresh,
    header,
    scheme,
    applyToken: input.applyToken,
    allowedOrigins,
    refreshTimeoutMs: duration(options, 'refreshTimeoutMs', 10_000),
    queueTimeoutMs: duration(options, 'queueTimeoutMs', 30_000),
    cooldownMs: duration(options, 'cooldownMs', 5_000),
    refreshBeforeExpiryMs: duration(options, 'refreshBeforeExpiryMs', 30_000),
    getExpiry: input.getExpiry ?? expiryReader(clockSkew),
    clockSkew,
    maxReplays,
    coordinator,
    ownsCoordinator: input.coordinator === undefined,
    onRefreshFailed: input.onRefreshFailed,
    retry: retryPolicy(options.refreshRetry),
    isTerminal: input.isTerminal ?? isTerminalFailure,
    logger,
  };
}
