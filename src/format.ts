/**
 * Shows a value in an error message: "`-1` (number)", "`\"X Auth\"` (string)", "`[401.5]`
 * (array)", "`...` (object)". Strings are quoted and escaped, so a CR or LF is visible. Objects and
 * functions show their type only, never their contents: an options object may hold a client with
 * a password, or tokens. Long texts are cut at 60 characters. The one formatter of every entry
 * point (a small file, so each subpath bundles it rather than the core).
 */
export function show(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  const text =
    type === 'string'
      ? JSON.stringify(value)
      : type === 'array'
        ? `[${(value as unknown[]).map(String)}]`
        : type === 'object' || type === 'function'
          ? '...'
          : String(value);
  return `\`${text.length > 60 ? `${text.slice(0, 57)}...` : text}\` (${type})`;
}

/**
 * The message of every option error, in every entry point:
 * "Expected `cooldownMs` to be a finite number >= 0, got `-1` (number)".
 */
export const expected = (name: string, what: string, value: unknown): string =>
  `Expected \`${name}\` to be ${what}, got ${show(value)}`;
