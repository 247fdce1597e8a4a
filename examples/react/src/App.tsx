import { useEffect } from 'react';
import { useAuth, useGateStatus } from './auth';
import { Dashboard } from './Dashboard';
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
      <RefreshIndicator />
      {user ? <Dashboard user={user} /> : <Login />}
    </>
  );
}

function RefreshIndicator() {
  const status = useGateStatus();
  if (status !== 'refreshing') return null;
  return (
    <div className="indicator" role="status" data-testid="refreshing">
      Session refreshing…
    </div>
  );
}
