import { QueryClient } from '@tanstack/react-query';
import { isCancel } from 'axios';
import { isRefreshGateError, RefreshGateErrorCode } from 'axios-refresh-gate';

declare global {
  interface Window {
    /** Where TanStack Query's devtools extension (and the browser tests) find the client. */
    __TANSTACK_QUERY_CLIENT__?: QueryClient;
  }
}

/** A failed query is tried again at most this many times (TanStack's default is 3). */
const MAX_RETRIES = 2;

/**
 * TanStack Query's `retry` for queries that go through the refresh gate: up to two retries,
 * except for the failures a retry cannot fix, which would only turn one failure into a burst:
 *
 * - `COOLDOWN`: a refresh failed less than `cooldownMs` ago; a retry within the cooldown (the
 *   default delays are 1 s, then 2 s) gets `COOLDOWN` again, and after it the next poll or
 *   refetch starts a refresh of its own anyway.
 * - `DESTROYED`: the gate is gone; nothing through it can succeed.
 * - a canceled request (axios' `CanceledError`): its query's `signal` aborted (unmounted,
 *   `queryClient.cancelQueries()`), or `gate.clear()` canceled it while it waited for a refresh
 *   at logout. Nobody wants its answer any more.
 *
 * A failed refresh itself reaches the queries that waited for it as its own error: that one is
 * tried again once, into the cooldown, and stops there.
 *
 * @example
 * ```ts
 * new QueryClient({ defaultOptions: { queries: { retry: shouldRetry } } });
 * ```
 */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (failureCount >= MAX_RETRIES || isCancel(error)) return false;
  return !(
    isRefreshGateError(error) &&
    (error.code === RefreshGateErrorCode.COOLDOWN || error.code === RefreshGateErrorCode.DESTROYED)
  );
}

/**
 * The app's one QueryClient. Every `queryFn` passes TanStack's `signal` to axios, so a query
 * canceled by TanStack (unmount, `cancelQueries`, `queryClient.clear()`) also cancels its request,
 * including one waiting at the gate for a refresh: it is never sent.
 *
 * @example
 * ```tsx
 * const queryClient = createQueryClient();
 * <QueryClientProvider client={queryClient}>…</QueryClientProvider>
 * ```
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: shouldRetry } } });
}
