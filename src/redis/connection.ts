import type { Redis } from 'ioredis';
import { expected } from '../format.js';
import { RefreshGateError } from '../index.js';

/** Connection states in which a command would only wait in ioredis' offline queue, or fail. */
const DOWN = new Set(['reconnecting', 'close', 'end']);

/**
 * An error for a Redis that is down, or `undefined` when the client may still answer. Checked
 * before every command, because ioredis queues commands while it reconnects (by default for up to
 * 20 attempts): a refresh must fail at once with a clear error instead of waiting in that queue.
 */
export function unavailable(client: Redis, what: string): Error | undefined {
  if (!DOWN.has(client.status)) return undefined;
  return redisError(client, what, undefined);
}

/** Wraps a failed Redis command in an error that says what could not be done and what to check. */
export function redisError(client: Redis, what: string, cause: unknown): Error {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  const error = new Error(
    `Redis is unavailable (connection ${client.status}${reason}); ${what} failed. ` +
      'Check the connection of the ioredis client given to axios-refresh-gate/redis.',
    cause === undefined ? undefined : { cause },
  );
  error.name = 'RedisUnavailableError';
  return error;
}

/** Validates the options shared by the coordinator and the store, as the core validates its own. */
export function checkClientAndKey(options: unknown, factory: string): void {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', `an object { client, key } (${factory})`, options);
  }
  const { client, key } = options as { client?: unknown; key?: unknown };
  const methods = ['eval', 'get', 'set', 'publish', 'duplicate'] as const;
  if (
    typeof client !== 'object' ||
    client === null ||
    methods.some((name) => typeof (client as Record<string, unknown>)[name] !== 'function')
  ) {
    throw invalid('client', 'an ioredis client', client);
  }
  if (typeof key !== 'string' || key === '') {
    throw invalid('key', 'a non-empty string', key);
  }
}

/** A bad option of this subpath: the core's one error class, with the code the core uses. */
export function invalid(name: string, what: string, value: unknown): RefreshGateError {
  return new RefreshGateError('INVALID_OPTIONS', expected(name, what, value));
}
