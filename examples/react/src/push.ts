/**
 * A stand-in for a push channel (EventSource, WebSocket, a service worker message): calls
 * `onPush` every `intervalMs`. A real one would authenticate with `await gate.getAccessToken()`,
 * which waits for a refresh in flight instead of connecting with a stale token.
 * Returns the unsubscribe function.
 */
export function subscribeToPushes(intervalMs: number, onPush: () => void): () => void {
  const timer = setInterval(onPush, intervalMs);
  return () => clearInterval(timer);
}
