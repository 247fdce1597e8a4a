import { RefreshGateError } from './errors.js';
import type { Tokens } from './types.js';

// Printable ASCII without spaces: what a bearer token can be, and nothing that could end a header
// line or smuggle a second header into the request.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

const describe = (value: unknown) =>
  value === null ? 'null' : typeof value === 'string' ? 'a string' : typeof value;

/**
 * Checks what a refresh resolved to (or what `setTokens` got) and returns the tokens to store.
 * A string replaces the access token only: the refresh token of `previous` is kept.
 */
export function toTokens(value: unknown, previous: Tokens | null, what: string): Tokens {
  if (typeof value === 'string') {
    assertAccessToken(value, what);
    // The old expiresAt belonged to the old token; expiry falls back to the new token's JWT exp.
    return previous?.refreshToken === undefined
      ? { accessToken: value }
      : { accessToken: value, refreshToken: previous.refreshToken };
  }
  if (typeof value !== 'object' || value === null) {
    throw invalid(
      `${what} must resolve to a non-empty token string or { accessToken }, got ${describe(value)}`,
    );
  }
  const { accessToken, refreshToken, expiresAt } = value as Record<string, unknown>;
  assertAccessToken(accessToken, what);
  if (refreshToken !== undefined && (typeof refreshToken !== 'string' || refreshToken === '')) {
    throw invalid(
      `${what}: \`refreshToken\` must be a non-empty string when given, got ${describe(refreshToken)}`,
    );
  }
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) {
    throw invalid(
      `${what}: \`expiresAt\` must be a finite number (epoch ms) when given, got ${describe(expiresAt)}`,
    );
  }
  return value as Tokens;
}

function assertAccessToken(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw invalid(`${what}: \`accessToken\` must be a non-empty string, got ${describe(value)}`);
  }
  if (!TOKEN_CHARS.test(value)) {
    throw invalid(`${what}: \`accessToken\` contains whitespace, control or non-ASCII characters`);
  }
}

const invalid = (message: string) => new RefreshGateError('INVALID_TOKENS', message);
