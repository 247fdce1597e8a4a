import type { Redis } from 'ioredis';
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
    throw invalid(`Expected \`${factory}\` options to be an object, got ${describe(options)}`);
  }
  const { client, key } = options as { client?: unknown; key?: unknown };
  const methods = ['eval', 'get', 'set', 'publish', 'duplicate'] as const;
  if (
    typeof client !== 'object' ||
    client === null ||
    methods.some((name) => typeof (client as Record<string, unknown>)[name] !== 'function')
  ) {
    throw invalid(`Expected \`client\` to be an ioredis client, got ${describe(client)}`);
  }
  if (typeof key !== 'string' || key === '') {
    throw invalid(`Expected \`key\` to be a non-empty string, got ${describe(key)}`);
  }
}

export function invalid(message: string): RefreshGateError {
  return new RefreshGateError('INVALID_OPTIONS', message);
}

export function describe(value: unknown): string {
  if (value === null) return '`null`';
  if (typeof value === 'object' || typeof value === 'function') return `a ${typeof value}`;
  return `\`${String(value)}\` (${typeof value})`;
}
