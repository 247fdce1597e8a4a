import type { GateLogger } from './types.js';

const noop = () => {};

/**
 * The logger of every entry point when none is given: decisions (`debug`) are dropped, warnings go
 * to `console.warn` with the package's name in front.
 */
export const defaultLogger: GateLogger = {
  debug: noop,
  warn: (...args) => console.warn('[axios-refresh-gate]', ...args),
};

const hidden = (text: string, secrets: readonly (string | undefined)[]): string => {
  let shown = text;
  for (const secret of secrets)
    if (secret && secret.length >= 4) shown = shown.split(secret).join('[token]');
  return shown;
};

/**
 * What a log gets of an error: a copy without an axios error's config, request and response
 * (their headers and bodies carry tokens) or a Redis client's command (its arguments may be
 * tokens), at every level of its `cause` and `errors`, with the `secrets` (the tokens the gate
 * holds) masked in messages and stacks.
 */
export function forLog(
  error: unknown,
  secrets: readonly (string | undefined)[] = [],
  depth = 0,
): unknown {
  if (typeof error === 'string') return hidden(error, secrets);
  if (typeof error !== 'object' || error === null || depth > 4) return error;
  const { name, message, code, stack, cause, errors } = error as Record<string, unknown>;
  const risky =
    'config' in error || 'request' in error || 'response' in error || 'command' in error;
  const copy = new Error(
    hidden(`${risky && code !== undefined ? `${String(code)}: ` : ''}${String(message)}`, secrets),
    cause === undefined ? undefined : { cause: forLog(cause, secrets, depth + 1) },
  ) as Error & { errors?: unknown };
  copy.name = String(name);
  if (Array.isArray(errors)) copy.errors = errors.map((e) => forLog(e, secrets, depth + 1));
  if (!risky && typeof stack === 'string') copy.stack = hidden(stack, secrets);
  return copy;
}
