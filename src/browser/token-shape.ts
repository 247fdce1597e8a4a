import type { Tokens } from '../index.js';

// The core's rule for access tokens (printable ASCII, no spaces): what arrives from storage or
// another tab goes into a header, so it must not be able to end the header line.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/**
 * Reads tokens that crossed a boundary (web storage, a BroadcastChannel message): returns the
 * tokens with only their known fields, or `undefined` when `value` is not tokens (corrupted,
 * written by other code, or from another version of this package).
 */
export function tokensFrom(value: unknown): Tokens | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { accessToken, refreshToken, expiresAt } = value as Record<string, unknown>;
  if (typeof accessToken !== 'string' || !TOKEN_CHARS.test(accessToken)) return undefined;
  if (refreshToken !== undefined && (typeof refreshToken !== 'string' || refreshToken === ''))
    return undefined;
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)))
    return undefined;
  return {
    accessToken,
    ...(refreshToken === undefined ? {} : { refreshToken }),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}
