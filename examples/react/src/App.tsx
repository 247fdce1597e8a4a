import { useGateState } from 'axios-refresh-gate/react';
import { useEffect } from 'react';
import { useAuth } from './auth';
import { Dashboard } from './Dashboard';
import { countRender } from './debug';
import { Login } from './Login';

/** The session decides the page; the URL follows (`/login` or `/`). */
export function App() {
  const { user } = useAuth();
  const path = user ? '/' : '/login';
  useEffect(() => {
    if (window.location.pathname !== path) window.history.replaceState(null, '', path);
  }, [path]);

  return (
    <>
      {user ? <Dashboard user={user} /> : <Login />}
      <GateStatus />
    </>
  );
}

/**
 * The gate's state, re-rendered when it changes (a cooldown's end included) and only then: a
 * "Session refreshing…" badge while a refresh runs, and a status line.
 */
function GateStatus() {
  const { status, refreshes, failures } = useGateState();
  countRender('gateStatus');
  return (
    <>
      {status === 'refreshing' && (
        <div className="indicator" role="status" data-testid="refreshing">
          Session refreshing…
        </div>
      )}
      <footer className="gate-status" data-testid="gate-status" data-status={status}>
        Gate {status} · {refreshes} refreshed · {failures} failed
      </footer>
    </>
  );
}
