import {
  type UseMutationResult,
  type UseQueryResult,
  useMutation,
  useQuery,
  useQueryClient,
} from '@tanstack/react-query';
import { isRefreshGateError } from 'axios-refresh-gate';
import { useApi } from 'axios-refresh-gate/react';
import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import { useAuth } from './auth';
import { config } from './config';
import { subscribeToPushes } from './push';

/** What every `/api/*` route of the example server answers; `n` numbers the answers. */
interface ApiAnswer {
  n: number;
  user: string;
}

/** What a card shows of a query or a mutation. */
interface Shown {
  readonly state: 'idle' | 'loading' | 'ok' | 'error';
  readonly data: ApiAnswer | undefined;
  readonly error: unknown;
}

/**
 * Three data sources at once, all through the one gated instance and TanStack Query: the stats
 * query polls, the notifications query refetches when a push arrives, the message is a mutation.
 * Each `queryFn` hands TanStack's `signal` to axios, so a canceled query cancels its request (also
 * one waiting at the gate for a refresh), and the client's `retry` is `shouldRetry` (src/query.ts).
 */
export function Dashboard({ user }: { user: string }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const { logout } = useAuth();

  const stats = useQuery({
    queryKey: ['stats'],
    queryFn: ({ signal }) => api.get<ApiAnswer>('/api/stats', { signal }).then((r) => r.data),
    refetchInterval: config.pollMs,
  });

  // Nothing to show before the first push; every push after it invalidates the query.
  const [pushed, setPushed] = useState(false);
  const notifications = useQuery({
    queryKey: ['notifications'],
    queryFn: ({ signal }) =>
      api.get<ApiAnswer>('/api/notifications', { signal }).then((r) => r.data),
    enabled: pushed,
  });
  useEffect(
    () =>
      subscribeToPushes(config.pushMs, () => {
        setPushed(true);
        void queryClient.invalidateQueries({ queryKey: ['notifications'] });
      }),
    [queryClient],
  );

  const message = useMutation({
    mutationFn: (text: string) =>
      api.post<ApiAnswer>('/api/messages', { text }).then((r) => r.data),
  });

  function send(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    message.mutate(String(new FormData(event.currentTarget).get('text')));
  }

  const shownStats = fromQuery(stats);
  const shownNotifications = fromQuery(notifications);
  const shownMessage: Shown = {
    state: MUTATION_STATES[message.status],
    data: message.data,
    error: message.error,
  };

  return (
    <main className="dashboard" data-testid="dashboard">
      <header>
        <h1>Dashboard</h1>
        <span>
          {user}{' '}
          <button type="button" onClick={() => void logout()}>
            Log out
          </button>
        </span>
      </header>
      <Card testId="stats" title="Stats" shown={shownStats}>
        <p>{describe(shownStats, (n) => `Answer #${n}, polled every ${config.pollMs / 1000} s`)}</p>
      </Card>
      <Card testId="notifications" title="Notifications" shown={shownNotifications}>
        <p>
          {describe(shownNotifications, (n) => `Loaded after a push (answer #${n})`, 'No push yet')}
        </p>
      </Card>
      <Card testId="message" title="Message" shown={shownMessage}>
        <form onSubmit={send}>
          <input name="text" defaultValue="Hello!" aria-label="Message" />
          <button type="submit">Send</button>
        </form>
        <p>{describe(shownMessage, (n) => `Sent (answer #${n})`, 'Nothing sent yet')}</p>
      </Card>
    </main>
  );
}

const MUTATION_STATES = {
  idle: 'idle',
  pending: 'loading',
  error: 'error',
  success: 'ok',
} as const satisfies Record<UseMutationResult['status'], Shown['state']>;

/** A query not fetched yet (disabled, or its first fetch canceled) is idle. */
function fromQuery(query: UseQueryResult<ApiAnswer>): Shown {
  const state =
    query.status === 'error'
      ? 'error'
      : query.status === 'success'
        ? 'ok'
        : query.fetchStatus === 'idle'
          ? 'idle'
          : 'loading';
  return { state, data: query.data, error: query.error };
}

/**
 * `data-n` and `data-user` tell the browser tests which answer a card shows, `data-error` the
 * gate's error code when its last fetch failed with one (`COOLDOWN`, say).
 */
function Card({
  testId,
  title,
  shown,
  children,
}: {
  testId: string;
  title: string;
  shown: Shown;
  children: ReactNode;
}) {
  return (
    <section
      className="card"
      data-testid={testId}
      data-state={shown.state}
      data-n={shown.state === 'ok' ? shown.data?.n : undefined}
      data-user={shown.data?.user}
      data-error={
        shown.state === 'error' && isRefreshGateError(shown.error) ? shown.error.code : undefined
      }
    >
      <h2>{title}</h2>
      {children}
    </section>
  );
}

function describe(shown: Shown, ok: (n: number) => string, idle = ''): string {
  switch (shown.state) {
    case 'ok':
      return ok(shown.data?.n ?? 0);
    case 'loading':
      return 'Loading…';
    case 'error':
      return 'Failed to load';
    default:
      return idle;
  }
}
