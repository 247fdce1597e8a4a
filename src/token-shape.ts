import type { Tokens } from './types.js';

// Printable ASCII without spaces: what a bearer token can be, and nothing that could end a header
// line or smuggle a second header into the request.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/** Whether `value` can be sent as an access token: a non-empty string that cannot inject a header. */
export const isHeaderSafe = (value: unknown): value is string =>
  typeof value === 'string' && TOKEN_CHARS.test(value);

/**
 * The first field that keeps `fields` from being tokens, or `undefined` when they are tokens. The
 * one check behind both readers, {@link readTokens} here and the core's strict `toTokens`, so that
 * no entry point lets an injectable token through.
 */
export function badField(
  fields: Record<string, unknown>,
): 'accessToken' | 'refreshToken' | 'expiresAt' | undefined {
  const { accessToken, refreshToken, expiresAt } = fields;
  if (!isHeaderSafe(accessToken)) return 'accessToken';
  if (refreshToken !== undefined && (typeof refreshToken !== 'string' || refreshToken === '')) {
    return 'refreshToken';
  }
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) {
    return 'expiresAt';
  }
  return undefined;
}

/**
 * Reads tokens that crossed a boundary (a Redis key or channel, web storage, a BroadcastChannel
 * message): the tokens with only their known fields, or `null` for anything that is not valid
 * tokens (corrupted, written by other code or another version, or with an access token that could
 * inject a header). Never throws: a foreign value must not crash the gate, which refreshes instead.
 * Kept apart from `toTokens` so that the subpaths bundle this and not the core's error class.
 */
export function readTokens(value: unknown): Tokens | null {
  if (typeof value !== 'object' || value === null) return null;
  const fields = value as Record<string, unknown>;
  if (badField(fields) !== undefined) return null;
  const { accessToken, refreshToken, expiresAt } = fields as unknown as Tokens;
  const tokens: { accessToken: string; refreshToken?: string; expiresAt?: number } = {
    accessToken,
  };
  if (refreshToken !== undefined) tokens.refreshToken = refreshToken;
  if (expiresAt !== undefined) tokens.expiresAt = expiresAt;
  return tokens;
}
