/**
 * Reads the `exp` claim of a JWT, in epoch milliseconds, or `undefined` when `token` is not a JWT
 * with a numeric `exp`.
 *
 * It does **not** verify the signature: the gate only uses the expiry to refresh a little early.
 * The server that receives the token is what decides whether it is valid.
 *
 * @example
 * ```ts
 * const expiresAt = readJwtExpiry(accessToken); // 1767225600000, or undefined
 * ```
 */
export const readJwtExpiry = (token: string): number | undefined => jwtTime(token, 'exp');

/** A JWT's numeric-date claim (`exp`, `iat`), in epoch milliseconds, unverified. */
export function jwtTime(token: string, claim: 'exp' | 'iat'): number | undefined {
  const first = token.indexOf('.');
  if (first < 1) return undefined;
  const second = token.indexOf('.', first + 1);
  if (second < 0) return undefined;
  try {
    const payload: unknown = JSON.parse(decodeBase64Url(token.slice(first + 1, second)));
    const time = (payload as Record<string, unknown> | null)?.[claim];
    return typeof time === 'number' && Number.isFinite(time) ? time * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function decodeBase64Url(segment: string): string {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  // atob yields one char per byte; the claims are UTF-8.
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
