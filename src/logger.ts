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

/**
 * What a log gets of an error: an axios error's config, request and response are left out (their
 * headers and bodies carry tokens), and so is a Redis client's command (its arguments may be
 * tokens); other errors are logged as they are.
 */
export function forLog(error: unknown): unknown {
  if (typeof error !== 'object' || error === null) return error;
  if (!('config' in error || 'request' in error || 'response' in error || 'command' in error)) {
    return error;
  }
  const { name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown };
  const summary = new Error(`${code ? `${String(code)}: ` : ''}${String(message)}`);
  summary.name = String(name);
  return summary;
}
