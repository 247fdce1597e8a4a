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
 * What a log gets of an error: an axios error's config, request and response are left out (their
 * headers and bodies carry tokens), and so is a Redis client's command (its arguments may be
 * tokens), at every level of its `cause` and `errors`; the `secrets` (the tokens the gate holds)
 * are masked in messages and stacks. An error with nothing to hide is logged as it is.
 */
export function forLog(
  error: unknown,
  secrets: readonly (string | undefined)[] = [],
  depth = 0,
): unknown {
  if (typeof error === 'string') return hidden(error, secrets);
  if (typeof error !== 'object' || error === null) return error;
  const { name, message, code, stack, cause, errors } = error as Record<string, unknown>;
  const risky =
    'config' in error || 'request' in error || 'response' in error || 'command' in error;
  const next = depth < 5 && cause !== undefined ? forLog(cause, secrets, depth + 1) : cause;
  const nested =
    Array.isArray(errors) && depth < 5 ? errors.map((e) => forLog(e, secrets, depth + 1)) : errors;
  const text = hidden(String(message), secrets);
  const trace = typeof stack === 'string' ? hidden(stack, secrets) : undefined;
  if (
    !risky &&
    next === cause &&
    (nested === errors || (nested as unknown[]).every((e, i) => e === (errors as unknown[])[i])) &&
    text === String(message) &&
    trace === stack
  ) {
    return error;
  }
  const summary = new Error(
    `${!risky || code === undefined ? '' : `${String(code)}: `}${text}`,
    next === undefined ? undefined : { cause: next },
  ) as Error & { errors?: unknown };
  summary.name = String(name);
  if (nested !== undefined) summary.errors = nested;
  if (!risky && trace !== undefined) summary.stack = trace;
  return summary;
}
