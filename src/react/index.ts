/**
 * `axios-refresh-gate/react`: the gate in React's context, and hooks that re-render when (and only
 * when) what they return changed. React >= 18 is an optional peer dependency of this subpath only.
 *
 * Both state hooks are `useSyncExternalStore` over the gate's own snapshot, so a render never
 * tears (every component sees the same state in one commit) and a component re-renders only when
 * its snapshot changed: `gate.state` keeps its identity until a field changes, an access token is
 * a string.
 *
 * @example
 * ```tsx
 * import { RefreshGateProvider, useGateState } from 'axios-refresh-gate/react';
 *
 * createRoot(root).render(
 *   <RefreshGateProvider gate={gate} api={api}>
 *     <App />
 *   </RefreshGateProvider>,
 * );
 *
 * function RefreshBadge() {
 *   const { status } = useGateState();
 *   return status === 'refreshing' ? <span role="status">Refreshing…</span> : null;
 * }
 * ```
 */
// A directive for React Server Components: the hooks and the context run on the client only.
'use client';

import type { AxiosInstance } from 'axios';
import {
  createContext,
  createElement,
  type ReactElement,
  type ReactNode,
  useCallback,
  useContext,
  useMemo,
  useSyncExternalStore,
} from 'react';
import type { RefreshGate, RefreshGateState, Tokens } from '../index.js';

interface GateContextValue {
  readonly gate: RefreshGate;
  readonly api: AxiosInstance | undefined;
}

const SERVER_STATE: RefreshGateState = Object.freeze({
  status: 'idle',
  waiting: 0,
  refreshes: 0,
  failures: 0,
  signedIn: null,
});
const serverState = () => SERVER_STATE;
const serverToken = () => undefined;

const GateContext = createContext<GateContextValue | null>(null);

/** Props of {@link RefreshGateProvider}. */
export interface RefreshGateProviderProps {
  /** The gate the hooks below read. The provider neither creates, attaches nor destroys it. */
  readonly gate: RefreshGate;
  /** The axios instance the gate is attached to, for {@link useApi}. */
  readonly api?: AxiosInstance | undefined;
  readonly children?: ReactNode;
}

/**
 * Makes `gate` (and `api`, if given) available to the hooks of this subpath below it. Create the
 * gate once, outside render (a module, or a `useState` initializer), so its lock outlives renders.
 *
 * @example
 * ```tsx
 * const api = axios.create({ baseURL: '/api' });
 * const gate = attachRefreshGate(api, { refresh });
 *
 * <RefreshGateProvider gate={gate} api={api}><App /></RefreshGateProvider>
 * ```
 */
export function RefreshGateProvider({
  gate,
  api,
  children,
}: RefreshGateProviderProps): ReactElement {
  const value = useMemo(() => ({ gate, api }), [gate, api]);
  return createElement(GateContext.Provider, { value }, children);
}

/** `gate` when given (hooks take one to work without a provider), else the provider's. */
function useGate(gate: RefreshGate | undefined, hook: string): RefreshGate {
  const context = useContext(GateContext);
  const found = gate ?? context?.gate;
  if (!found) {
    throw new Error(
      `${hook} needs a <RefreshGateProvider gate={gate}> above it, or the gate as its argument`,
    );
  }
  return found;
}

/**
 * The gate of the nearest {@link RefreshGateProvider}: for `getAccessToken()` (fetch, WebSocket),
 * `setTokens()` after a login, `clear()` on logout. Throws outside a provider.
 *
 * @example
 * ```tsx
 * const gate = useRefreshGate();
 * const logout = () => gate.clear();
 * ```
 */
export function useRefreshGate(): RefreshGate {
  return useGate(undefined, 'useRefreshGate()');
}

/**
 * The axios instance given to the nearest {@link RefreshGateProvider} as `api`. Throws when there
 * is none.
 *
 * @example
 * ```tsx
 * const api = useApi();
 * useEffect(() => void api.get('/me').then(({ data }) => setMe(data)), [api]);
 * ```
 */
export function useApi(): AxiosInstance {
  const api = useContext(GateContext)?.api;
  if (!api)
    throw new Error('useApi() needs a <RefreshGateProvider gate={gate} api={api}> above it');
  return api;
}

/**
 * The gate's state (`status`: `'idle' | 'refreshing' | 'cooldown'`, `waiting`, `refreshes`,
 * `failures`, `signedIn`), re-rendering when it changes, a cooldown's end included, and never
 * otherwise. `gate` defaults to the provider's.
 *
 * @example
 * ```tsx
 * const { status, signedIn } = useGateState();
 * if (signedIn === null) return <Spinner />; // an async store's first read is due
 * ```
 */
export function useGateState(gate?: RefreshGate): RefreshGateState {
  const target = useGate(gate, 'useGateState()');
  const subscribe = useCallback((onChange: () => void) => target.subscribe(onChange), [target]);
  const read = () => target.state;
  return useSyncExternalStore(subscribe, read, serverState);
}

/** The access token of `tokens`, keeping `null` (signed out) apart from `undefined` (not read yet). */
const accessTokenOf = (tokens: Tokens | null | undefined): string | null | undefined =>
  tokens === null ? null : tokens?.accessToken;

/**
 * The access token held now: a string, `null` when signed out, `undefined` until an async store's
 * first read answered. Re-renders when it changes (a login, a refresh, a logout, another tab).
 * For a token to send, prefer `await gate.getAccessToken()`: it waits for a running refresh.
 * `gate` defaults to the provider's.
 *
 * @example
 * ```tsx
 * const token = useAccessToken();
 * useEffect(() => (token ? openSocket(token) : undefined), [token]);
 * ```
 */
export function useAccessToken(gate?: RefreshGate): string | null | undefined {
  const target = useGate(gate, 'useAccessToken()');
  const subscribe = useCallback(
    (onChange: () => void) => {
      const offTokens = target.on('tokens:changed', onChange);
      // An async store's first read changes `signedIn`; `tokens:changed` may not be told of it.
      const offState = target.subscribe(onChange);
      return () => {
        offTokens();
        offState();
      };
    },
    [target],
  );
  const read = () => accessTokenOf(target.tokens);
  return useSyncExternalStore(subscribe, read, serverToken);
}
