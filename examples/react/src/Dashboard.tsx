import { isCancel } from 'axios';
import { useApi } from 'axios-refresh-gate/react';
import { type FormEvent, useEffect, useState } from 'react';
import { useAuth } from './auth';
import { config } from './config';
import { subscribeToPushes } from './push';

/** What every `/api/*` route of the example server answers; `n` numbers the answers. */
interface ApiAnswer {
  n: number;
  user: string;
}

type Result = { state: 'idle' | 'loading' } | { state: 'ok'; n: number } | { state: 'error' };

/** Ignores requests cancelled on unmount; a failed refresh ends the session in the provider. */
const settled = (set: (result: Result) => void) => (error: unknown) => {
  if (!isCancel(error)) set({ state: 'error' });
};

/** Three data sources at once, all through the one gated instance. */
export function Dashboard({ user }: { user: string }) {
  const api = useApi();
  const { logout } = useAuth();
  const [stats, setStats] = useState<Result>({ state: 'loading' });
  const [notifications, setNotifications] = useState<Result>({ state: 'idle' });
  const [message, setMessage] = useState<Result>({ state: 'idle' });

  useEffect(() => {
    const controller = new AbortController();
    const load = () =>
      api
        .get<ApiAnswer>('/api/stats', { signal: controller.signal })
        .then(({ data }) => setStats({ state: 'ok', n: data.n }), settled(setStats));
    load();
    const timer = setInterval(load, config.pollMs);
    return () => {
      clearInterval(timer);
      controller.abort();
    };
  }, [api]);

  useEffect(() => {
    const controller = new AbortController();
    const unsubscribe = subscribeToPushes(config.pushMs, () => {
      setNotifications({ state: 'loading' });
      api
        .get<ApiAnswer>('/api/notifications', { signal: controller.signal })
        .then(
          ({ data }) => setNotifications({ state: 'ok', n: data.n }),
          settled(setNotifications),
        );
    });
    return () => {
      unsubscribe();
      controller.abort();
    };
  }, [api]);

  async function send(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const text = String(new FormData(event.currentTarget).get('text'));
    setMessage({ state: 'loading' });
    try {
      const { data } = await api.post<ApiAnswer>('/api/messages', { text });
      setMessage({ state: 'ok', n: data.n });
    } catch (error) {
      settled(setMessage)(error);
    }
  }

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
      <section
        className="card"
        data-testid="stats"
        data-state={stats.state}
        data-n={stats.state === 'ok' ? stats.n : undefined}
      >
        <h2>Stats</h2>
        <p>{describe(stats, (n) => `Answer #${n}, polled every ${config.pollMs / 1000} s`)}</p>
      </section>
      <section
        className="card"
        data-testid="notifications"
        data-state={notifications.state}
        data-n={notifications.state === 'ok' ? notifications.n : undefined}
      >
        <h2>Notifications</h2>
        <p>{describe(notifications, (n) => `Loaded after a push (answer #${n})`, 'No push yet')}</p>
      </section>
      <section
        className="card"
        data-testid="message"
        data-state={message.state}
        data-n={message.state === 'ok' ? message.n : undefined}
      >
        <h2>Message</h2>
        <form onSubmit={send}>
          <input name="text" defaultValue="Hello!" aria-label="Message" />
          <button type="submit">Send</button>
        </form>
        <p>{describe(message, (n) => `Sent (answer #${n})`, 'Nothing sent yet')}</p>
      </section>
    </main>
  );
}

function describe(result: Result, ok: (n: number) => string, idle = ''): string {
  switch (result.state) {
    case 'ok':
      return ok(result.n);
    case 'loading':
      return 'Loading…';
    case 'error':
      return 'Failed to load';
    default:
      return idle;
  }
}
