/**
 * The codes a {@link RefreshGateError} can carry.
 *
 * @example
 * ```ts
 * if (isRefreshGateError(error) && error.code === RefreshGateErrorCode.COOLDOWN) showRetryLater();
 * ```
 */
export const RefreshGateErrorCode = {
  /** The refresh did not settle within `refreshTimeoutMs`; it was aborted through `ctx.signal`. */
  REFRESH_TIMEOUT: 'REFRESH_TIMEOUT',
  /** A request waited longer than `queueTimeoutMs` for a refresh. */
  QUEUE_TIMEOUT: 'QUEUE_TIMEOUT',
  /** A refresh failed less than `cooldownMs` ago; `cause` is that failure. */
  COOLDOWN: 'COOLDOWN',
  /** The refresh (or `setTokens`) produced something that is not a usable token. */
  INVALID_TOKENS: 'INVALID_TOKENS',
  /**
   * The gate was destroyed while the request or call waited, or a call reached a destroyed gate or
   * a disposed coordinator or deduper.
   */
  DESTROYED: 'DESTROYED',
  /** An option given to a factory of any entry point is invalid; the message names it. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /**
   * A request refused for its token could not be replayed: its body is a stream the first attempt
   * consumed. `cause` is the triggering response's error; send the request again with a new body.
   */
  NOT_REPLAYABLE: 'NOT_REPLAYABLE',
  /**
   * This member lost the scope's lock while it refreshed (a Redis lock that expired while its
   * holder was paused, or was deleted): its refresh was aborted and its tokens not stored. The
   * gate then waits for the lock again and takes the tokens the new holder stored.
   */
  LOCK_LOST: 'LOCK_LOST',
  /**
   * There is no session to refresh: the refresh resolved `null`, or threw this code itself (no
   * refresh token, say). Not a failure: no cooldown, no `onRefreshFailed`; a request that got a
   * 401 rejects with its own 401 instead, a held one is sent as it is.
   */
  NO_SESSION: 'NO_SESSION',
} as const;

/** One of {@link RefreshGateErrorCode}'s values. */
export type RefreshGateErrorCode = (typeof RefreshGateErrorCode)[keyof typeof RefreshGateErrorCode];

// A registry symbol, so that the brand survives two copies of the package or two realms (iframes).
const BRAND = Symbol.for('axios-refresh-gate.error');

/**
 * The one error class of the gate. `code` says what happened; `cause` carries the underlying error
 * where there is one (the refresh's failure for `COOLDOWN`, for example).
 *
 * @example
 * ```ts
 * try { await api.get('/me'); } catch (error) {
 *   if (error instanceof RefreshGateError && error.code === 'QUEUE_TIMEOUT') retryLater();
 * }
 * ```
 */
export class RefreshGateError extends Error {
  override readonly name = 'RefreshGateError';
  readonly code: RefreshGateErrorCode;
  declare readonly cause?: unknown;
  readonly [BRAND] = true;

  constructor(code: RefreshGateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Tells whether `value` is a {@link RefreshGateError}, also when it comes from another copy of the
 * package or another realm, where `instanceof` fails.
 *
 * @example
 * ```ts
 * api.get('/me').catch((error) => { if (isRefreshGateError(error)) console.log(error.code); });
 * ```
 */
export function isRefreshGateError(value: unknown): value is RefreshGateError {
  if (value instanceof RefreshGateError) return true;
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { [BRAND]?: unknown })[BRAND] === true &&
    (value as { name?: unknown }).name === 'RefreshGateError' &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}
