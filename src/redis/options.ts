import { expected } from '../format.js';
import { RefreshGateError } from '../index.js';
import { checkClient } from './connection.js';

/** Validates the options shared by the coordinator and the store, as the core validates its own. */
export function checkClientAndKey(options: unknown, factory: string): void {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', `an object { client, key } (${factory})`, options);
  }
  const { client, key } = options as { client?: unknown; key?: unknown };
  checkClient(client, invalid);
  if (typeof key !== 'string' || key === '') {
    throw invalid('key', 'a non-empty string', key);
  }
}

/** A bad option of this subpath: the core's one error class, with the code the core uses. */
export function invalid(name: string, what: string, value: unknown): RefreshGateError {
  return new RefreshGateError('INVALID_OPTIONS', expected(name, what, value));
}
