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
