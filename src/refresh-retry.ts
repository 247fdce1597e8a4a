/** How a failed refresh is tried again inside its single flight. */
export interface RetryPolicy {
  readonly retries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 2, baseDelayMs: 300, maxDelayMs: 5_000 };

/** HTTP statuses a provider answers when trying again later may work. */
const TRANSIENT_STATUSES = new Set([408, 425, 429]);

interface FailureShape {
  readonly isAxiosError?: unknown;
  readonly response?: { readonly status?: unknown; readonly headers?: unknown } | null;
  readonly status?: unknown;
  readonly code?: unknown;
  readonly name?: unknown;
}

const statusOf = (error: FailureShape): number | undefined => {
  const status = error.response ? error.response.status : error.status;
  return typeof status === 'number' ? status : undefined;
};

/**
 * The default `isTerminal`: a failure worth trying again is one without an answer (a network
 * error, a timeout, Redis unreachable, a lost lock) or an answer of 408, 425, 429 or 5xx. Every
 * other failure is terminal: the provider said no (400 `invalid_grant`, 401), or the app's own
 * `refresh` threw.
 */
export function isTerminalFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true;
  const failure = error as FailureShape;
  if (failure.name === 'RefreshGateError') {
    return !(failure.code === 'REFRESH_TIMEOUT' || failure.code === 'LOCK_LOST');
  }
  if (failure.name === 'RedisUnavailableError' || failure.name === 'TimeoutError') return false;
  const status = statusOf(failure);
  if (status !== undefined) return !(TRANSIENT_STATUSES.has(status) || status >= 500);
  // An axios error without a response: the request never got an answer (it was not canceled).
  return !(failure.isAxiosError === true && failure.code !== 'ERR_CANCELED');
}

/** `Retry-After` of an answer (seconds, or an HTTP date), in ms from `now`; `undefined` if none. */
function retryAfter(error: unknown, now: number): number | undefined {
  const headers = (error as FailureShape | null)?.response?.headers;
  if (typeof headers !== 'object' || headers === null) return undefined;
  const get = (headers as { get?: unknown }).get;
  const raw =
    typeof get === 'function'
      ? get.call(headers, 'retry-after')
      : (headers as Record<string, unknown>)['retry-after'];
  if (typeof raw !== 'string' && typeof raw !== 'number') return undefined;
  const text = String(raw).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date starts with its day's name ("Wed, 21 Oct 2015 07:28:00 GMT"); V8 would read
  // "1.5" or "-5" as dates in 2001, a pause of 0.
  if (!/^[A-Za-z]{3},/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The pause before try `attempt + 1`: the provider's `Retry-After` if it gave one, else
 * exponential backoff with full jitter (a random time up to `baseDelayMs * 2^attempt`), never
 * more than `maxDelayMs`.
 */
export function retryDelay(
  policy: RetryPolicy,
  attempt: number,
  error: unknown,
  now: number,
  random: () => number = Math.random,
): number {
  const asked = retryAfter(error, now);
  if (asked !== undefined) return Math.min(policy.maxDelayMs, asked);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(random() * ceiling);
}
