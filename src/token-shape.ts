import type { Tokens } from './types.js';

// Printable ASCII without spaces: what a bearer token can be, and nothing that could end a header
// line or smuggle a second header into the request.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;
/** Longer than any server takes in a header (Node's whole header limit is 16 KiB). */
export const MAX_TOKEN_LENGTH = 16_384;

/** Whether `value` can be sent as an access token: a non-empty string that cannot inject a header. */
export const isHeaderSafe = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= MAX_TOKEN_LENGTH && TOKEN_CHARS.test(value);

/** `fields[key]` if it is the object's own: an inherited (or polluted prototype's) value is none. */
const own = (fields: object, key: string): unknown =>
  Object.hasOwn(fields, key) ? (fields as Record<string, unknown>)[key] : undefined;

/**
 * The first field that keeps `fields` from being tokens, or `undefined` when they are tokens. The
 * one check behind both readers, {@link readTokens} here and the core's strict `toTokens`, so that
 * no entry point lets an injectable token through.
 */
export function badField(
  fields: Record<string, unknown>,
): 'accessToken' | 'refreshToken' | 'expiresAt' | undefined {
  const accessToken = own(fields, 'accessToken');
  const refreshToken = own(fields, 'refreshToken');
  const expiresAt = own(fields, 'expiresAt');
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
  const accessToken = own(fields, 'accessToken') as string;
  const refreshToken = own(fields, 'refreshToken') as string | undefined;
  const expiresAt = own(fields, 'expiresAt') as number | undefined;
  const tokens: { accessToken: string; refreshToken?: string; expiresAt?: number } = {
    accessToken,
  };
  if (refreshToken !== undefined) tokens.refreshToken = refreshToken;
  if (expiresAt !== undefined) tokens.expiresAt = expiresAt;
  return tokens;
}
