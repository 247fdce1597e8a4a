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
import { exposeGateEvents } from './debug';

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
 * Owns one gate for one axios instance, for the page's lifetime, and the session state. When a
 * refresh fails the session ends once: the gate calls `onRefreshFailed` once per failed refresh,
 * and `ended` keeps a late second failure from ending it again.
 */
export function AuthProvider({ authUrl, children }: { authUrl: string; children: ReactNode }) {
  const [user, setUser] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const ended = useRef(true);

  // Created in an initializer, not an effect, so the first render's requests already go through
  // it. The initializer has no side effects: StrictMode calls it twice in development and keeps
  // one result; the other (an axios instance and an idle gate) is garbage.
  const [client] = useState<AuthClient>(() => {
    const created = createAuthClient(authUrl, () => {
      if (ended.current) return;
      ended.current = true;
      void created.logout();
      setUser(null);
      setNotice('Your session expired. Please log in again.');
    });
    return created;
  });
  useEffect(() => exposeGateEvents(client.gate), [client]);

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
    await client.logout();
  }, [client]);

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
