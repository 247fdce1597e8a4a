import { useQueryClient } from '@tanstack/react-query';
import { RefreshGateProvider } from 'axios-refresh-gate/react';
import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import { type AuthClient, createAuthClient } from './auth-client';
import { exposeGateEvents, gateLogRequested, logGateEvents } from './debug';

/**
 * The app's own part of the session: who is logged in and how. The gate, its state and the gated
 * axios instance come from `axios-refresh-gate/react` (`useRefreshGate`, `useGateState`,
 * `useApi`), provided below.
 */
interface AuthContextValue {
  /** The logged-in user, or null. */
  readonly user: string | null;
  /** Why the last session ended on its own (its refresh failed), for the login page. */
  readonly notice: string | null;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
}

const AuthContext = createContext<AuthContextValue | null>(null);

/**
 * Owns one gate for one axios instance, for the page's lifetime, and the session state; needs a
 * `<QueryClientProvider>` above it, whose cache a logout empties. When the provider refuses a
 * refresh the session ends once: the gate calls `onRefreshFailed` once per failed refresh, and
 * `ended` keeps a late second failure from ending it again. A transient failure (no answer, 5xx,
 * the gate's own retries spent) keeps the session: the queries show their error, and the first
 * one after the cooldown tries a refresh again.
 */
export function AuthProvider({ authUrl, children }: { authUrl: string; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [user, setUser] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const ended = useRef(true);

  // The order matters. `gate.clear()` first: from then on no request gets the old token, and
  // the queries waiting at the gate for a refresh are canceled (never sent; `shouldRetry` does not
  // retry a cancel); the refresh in flight is aborted, so its answer cannot log the user back in.
  // Only then `queryClient.clear()`: it drops the cached data and aborts the fetches still on the
  // wire (their `signal`). The other way round, a refetch started in between (a poll, a remount)
  // would go out with the old session's token and fill the emptied cache with its data again.
  const endSession = useCallback(
    async (client: AuthClient) => {
      await client.logout(); // gate.clear()
      queryClient.clear();
    },
    [queryClient],
  );

  // Created in an initializer, not an effect, so the first render's requests already go through
  // it. The initializer has no side effects: StrictMode calls it twice in development and keeps
  // one result; the other (an axios instance and an idle gate) is garbage.
  const [client] = useState<AuthClient>(() => {
    const created = createAuthClient(authUrl, (_error, { terminal }) => {
      if (!terminal || ended.current) return;
      ended.current = true;
      void endSession(created);
      setUser(null);
      setNotice('Your session expired. Please log in again.');
    });
    return created;
  });
  useEffect(() => exposeGateEvents(client.gate), [client]);
  // Read during the first render: the URL's `?debug=gate` is gone once App moves to `/login`.
  const [logRequested] = useState(gateLogRequested);
  useEffect(() => (logRequested ? logGateEvents(client.gate) : undefined), [client, logRequested]);

  const login = useCallback(
    async (username: string, password: string) => {
      await client.login(username, password);
      ended.current = false;
      setNotice(null);
      setUser(username);
    },
    [client],
  );

  const logout = useCallback(async () => {
    ended.current = true;
    setUser(null);
    await endSession(client);
  }, [client, endSession]);

  const value = useMemo(() => ({ user, notice, login, logout }), [user, notice, login, logout]);
  return (
    <RefreshGateProvider gate={client.gate} api={client.api}>
      <AuthContext.Provider value={value}>{children}</AuthContext.Provider>
    </RefreshGateProvider>
  );
}

export function useAuth(): AuthContextValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth() needs an <AuthProvider> above it');
  return value;
}
