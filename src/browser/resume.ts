import { expected } from '../format.js';
import { type RefreshGate, RefreshGateError } from '../index.js';

/** What {@link resumeRefresh} listens on: a window (the page's by default) and its document. */
interface Target {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
  readonly document?: {
    readonly visibilityState?: string;
    addEventListener(type: string, listener: () => void): void;
    removeEventListener(type: string, listener: () => void): void;
  };
}

/**
 * Refreshes when the page wakes up, before the app's first request: when it becomes visible
 * again (a tab brought back, a laptop opened) or the browser comes back online, a token that
 * expired (or is about to) meanwhile is refreshed at once, and the requests the app then sends
 * wait for that one refresh. A fresh token costs nothing. Returns the function that stops it.
 *
 * @example
 * ```ts
 * import { resumeRefresh } from 'axios-refresh-gate/browser';
 *
 * const stop = resumeRefresh(gate);
 * ```
 */
export function resumeRefresh(
  gate: RefreshGate,
  options: { target?: Target | undefined } = {},
): () => void {
  if (typeof gate?.getAccessToken !== 'function') {
    throw new RefreshGateError('INVALID_OPTIONS', expected('gate', 'a refresh gate', gate));
  }
  const target = options.target ?? (globalThis as { window?: Target }).window;
  if (!target || typeof target.addEventListener !== 'function') return () => {};
  const document = target.document;
  // The failure, if any, is the gate's to report (onRefreshFailed, refresh:failure).
  const wake = () => {
    gate.getAccessToken().catch(() => {});
  };
  const visible = () => {
    if (document?.visibilityState === 'visible') wake();
  };
  target.addEventListener('online', wake);
  target.addEventListener('pageshow', wake);
  document?.addEventListener('visibilitychange', visible);
  return () => {
    target.removeEventListener('online', wake);
    target.removeEventListener('pageshow', wake);
    document?.removeEventListener('visibilitychange', visible);
  };
}
