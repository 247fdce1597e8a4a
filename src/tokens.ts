import { RefreshGateError } from './errors.js';
import { show } from './format.js';
import { badField, MAX_TOKEN_LENGTH } from './token-shape.js';
import type { Tokens } from './types.js';

/**
 * Checks what a refresh resolved to (or what `setTokens` got) and returns the tokens to store.
 * A string replaces the access token only: the refresh token of `previous` is kept. The checks are
 * those of `readTokens` (./token-shape.ts), which reads what crossed a boundary without throwing.
 */
export function toTokens(value: unknown, previous: Tokens | null, what: string): Tokens {
  const fields = typeof value === 'string' ? { accessToken: value } : value;
  if (typeof fields !== 'object' || fields === null) {
    throw new RefreshGateError(
      'INVALID_TOKENS',
      `${what} must resolve to a non-empty token string or { accessToken }, got ${show(value)}`,
    );
  }
  const field = badField(fields as Record<string, unknown>);
  if (field !== undefined) {
    const bad = Object.hasOwn(fields, field)
      ? (fields as Record<string, unknown>)[field]
      : undefined;
    throw new RefreshGateError(
      'INVALID_TOKENS',
      // A token with bad characters is not shown: the message may end up in a log.
      `${what}: \`${field}\` ${
        field === 'accessToken' && typeof bad === 'string' && bad !== ''
          ? bad.length > MAX_TOKEN_LENGTH
            ? `is ${bad.length} characters long: no server takes a header over ${MAX_TOKEN_LENGTH}`
            : 'contains whitespace, control or non-ASCII characters'
          : `must be ${field === 'expiresAt' ? 'a finite number (epoch ms)' : 'a non-empty string'}${field === 'accessToken' ? '' : ' when given'}, got ${show(bad)}`
      }`,
    );
  }
  // The old expiresAt belonged to the old token; expiry falls back to the new token's JWT exp.
  if (fields === value || previous?.refreshToken === undefined) return fields as Tokens;
  return { accessToken: value as string, refreshToken: previous.refreshToken };
}
