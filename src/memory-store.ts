import type { TokenStore, Tokens } from './types.js';

/**
 * A token store in memory, synchronous, for one gate (the default).
 *
 * @example
 * ```ts
 * const gate = createRefreshGate({ refresh, store: memoryStore({ accessToken: 'a', refreshToken: 'r' }) });
 * ```
 */
export function memoryStore(initial: Tokens | null = null): TokenStore {
  let tokens = initial;
  return {
    get: () => tokens,
    set: (next) => {
      tokens = next;
    },
    clear: () => {
      tokens = null;
    },
  };
}
