/**
 * Minimal HS256 JSON Web Tokens (RFC 7519) on top of `node:crypto`, just enough for the example
 * auth server: sign, verify (signature + `exp`) and decode. Not a general-purpose JWT library:
 * only `HS256` is accepted, which also rules out the classic `alg: none` downgrade.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Claims carried by the example access tokens. `iat` and `exp` are in seconds, per RFC 7519. */
export interface JwtPayload {
  /** Subject: the user name. */
  sub: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Unique token id; the server uses it to find the token's family. */
  jti: string;
  [claim: string]: unknown;
}

/** Why {@link verifyJwt} rejected a token. */
export type JwtFailure = 'malformed' | 'bad_signature' | 'expired';

export type JwtVerifyResult =
  | { ok: true; payload: JwtPayload }
  /** `payload` is present when the signature was valid (only `expired` can carry it). */
  | { ok: false; reason: JwtFailure; payload?: JwtPayload };

export function base64urlEncode(input: string | Uint8Array): string {
  return Buffer.from(input).toString('base64url');
}

export function base64urlDecode(input: string): Buffer {
  return Buffer.from(input, 'base64url');
}

/** The header never changes, so it is encoded once. */
const HEADER_SEGMENT = base64urlEncode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

function hmac(data: string, secret: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

/** Signs `payload` with HMAC-SHA256 and returns the compact serialization `header.payload.sig`. */
export function signJwt(payload: JwtPayload, secret: string | Uint8Array): string {
  const signingInput = `${HEADER_SEGMENT}.${base64urlEncode(JSON.stringify(payload))}`;
  return `${signingInput}.${hmac(signingInput, secret).toString('base64url')}`;
}

function parseSegment(segment: string): unknown {
  try {
    return JSON.parse(base64urlDecode(segment).toString('utf8'));
  } catch {
    return undefined;
  }
}

function isPayload(value: unknown): value is JwtPayload {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.sub === 'string' &&
    typeof v.iat === 'number' &&
    typeof v.exp === 'number' &&
    typeof v.jti === 'string'
  );
}

/**
 * Decodes the payload WITHOUT checking the signature (what a client does to read `exp`).
 * Returns `null` when the token is not a well-formed JWT with the expected claims.
 */
export function decodeJwt(token: string): JwtPayload | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const payload = parseSegment(parts[1]!);
  return isPayload(payload) ? payload : null;
}

/**
 * Verifies the signature and the `exp` claim.
 *
 * The signature is checked before the payload is parsed, so attacker-controlled JSON is only
 * parsed for tokens we signed ourselves, and the comparison is constant-time.
 *
 * @param nowMs - clock to check `exp` against (epoch ms); defaults to `Date.now()`.
 */
export function verifyJwt(
  token: string,
  secret: string | Uint8Array,
  nowMs: number = Date.now(),
): JwtVerifyResult {
  const firstDot = token.indexOf('.');
  const lastDot = token.lastIndexOf('.');
  if (firstDot <= 0 || lastDot === firstDot || lastDot === token.length - 1) {
    return { ok: false, reason: 'malformed' };
  }
  const signingInput = token.slice(0, lastDot);
  if (signingInput.indexOf('.', firstDot + 1) !== -1) return { ok: false, reason: 'malformed' };

  const given = base64urlDecode(token.slice(lastDot + 1));
  const expected = hmac(signingInput, secret);
  // timingSafeEqual throws on length mismatch, so check that first (the length is not secret).
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad_signature' };
  }

  const header = parseSegment(token.slice(0, firstDot)) as { alg?: unknown } | undefined;
  if (header?.alg !== 'HS256') return { ok: false, reason: 'malformed' };
  const payload = parseSegment(token.slice(firstDot + 1, lastDot));
  if (!isPayload(payload)) return { ok: false, reason: 'malformed' };
  if (nowMs >= payload.exp * 1000) return { ok: false, reason: 'expired', payload };
  return { ok: true, payload };
}
