/**
 * `axios-refresh-gate/vue`: the gate provided to an app by a plugin, and composables whose refs
 * follow it. Vue >= 3.3 is an optional peer dependency of this subpath only.
 *
 * The refs are `shallowRef`s set from `gate.subscribe`: `gate.state` keeps its identity until a
 * field changes, so a ref triggers its watchers only when something did change. Each composable
 * stops listening when the component (or `effectScope`) that called it is disposed.
 *
 * @example
 * ```ts
 * import { createRefreshGatePlugin } from 'axios-refresh-gate/vue';
 *
 * createApp(App).use(createRefreshGatePlugin(gate, { api })).mount('#app');
 *
 * // in a component's <script setup>
 * const state = useGateState(); // <span v-if="state.status === 'refreshing'">Refreshing…</span>
 * ```
 */
import type { AxiosInstance } from 'axios';
import {
  getCurrentInstance,
  getCurrentScope,
  type InjectionKey,
  inject,
  onMounted,
  onScopeDispose,
  type Plugin,
  type ShallowRef,
  shallowReadonly,
  shallowRef,
} from 'vue';
import type { RefreshGate, RefreshGateState, Tokens } from '../index.js';

/** What {@link createRefreshGatePlugin} provides. */
export interface RefreshGateInjection {
  readonly gate: RefreshGate;
  readonly api: AxiosInstance | undefined;
}

/**
 * The key the plugin provides under: `provide(refreshGateKey, { gate, api })` gives a subtree a
 * gate of its own.
 */
export const refreshGateKey: InjectionKey<RefreshGateInjection> = Symbol('axios-refresh-gate');

/** Options of {@link createRefreshGatePlugin}. */
export interface RefreshGatePluginOptions {
  /** The axios instance the gate is attached to, for {@link useApi}. */
  readonly api?: AxiosInstance | undefined;
}

/**
 * A plugin that provides `gate` (and `api`, if given) to every component of the app. It neither
 * attaches nor destroys the gate.
 *
 * @example
 * ```ts
 * const api = axios.create({ baseURL: '/api' });
 * const gate = attachRefreshGate(api, { refresh });
 * createApp(App).use(createRefreshGatePlugin(gate, { api })).mount('#app');
 * ```
 */
export function createRefreshGatePlugin(
  gate: RefreshGate,
  options: RefreshGatePluginOptions = {},
): Plugin {
  const provided: RefreshGateInjection = { gate, api: options.api };
  return {
    install(app) {
      app.provide(refreshGateKey, provided);
    },
  };
}

function injected(composable: string, what: string): RefreshGateInjection {
  const value = inject(refreshGateKey, null);
  if (!value) {
    throw new Error(
      `${composable} needs app.use(createRefreshGatePlugin(${what})) and a component's setup() (or app.runWithContext())`,
    );
  }
  return value;
}

/**
 * The app's gate: for `getAccessToken()` (fetch, WebSocket), `setTokens()` after a login,
 * `clear()` on logout. Throws without the plugin.
 *
 * @example
 * ```ts
 * const gate = useRefreshGate();
 * const logout = () => gate.clear();
 * ```
 */
export function useRefreshGate(): RefreshGate {
  return injected('useRefreshGate()', 'gate').gate;
}

/**
 * The axios instance given to the plugin as `api`. Throws when there is none.
 *
 * @example
 * ```ts
 * const api = useApi();
 * const { data } = await api.get('/me');
 * ```
 */
export function useApi(): AxiosInstance {
  const { api } = injected('useApi()', 'gate, { api }');
  if (!api) throw new Error('useApi() needs app.use(createRefreshGatePlugin(gate, { api }))');
  return api;
}

/** Follows `read()` from the moment of the call until the calling scope is disposed. */
function follow<T>(
  read: () => T,
  listen: (onChange: () => void) => () => void,
): Readonly<ShallowRef<T>> {
  const value = shallowRef(read());
  const start = () => {
    const stop = listen(() => {
      value.value = read();
    });
    if (getCurrentScope()) onScopeDispose(stop);
  };
  // A component listens once mounted (never on a server, where nothing is unmounted).
  if (getCurrentInstance())
    onMounted(() => {
      value.value = read();
      start();
    });
  else start();
  return shallowReadonly(value);
}

/**
 * A readonly ref of the gate's state (`status`: `'idle' | 'refreshing' | 'cooldown'`, `waiting`,
 * `refreshes`, `failures`, `signedIn`), updated when it changes, a cooldown's end included.
 * `gate` defaults to the app's.
 *
 * @example
 * ```ts
 * const state = useGateState();
 * const refreshing = computed(() => state.value.status === 'refreshing');
 * ```
 */
export function useGateState(
  gate: RefreshGate = injected('useGateState()', 'gate').gate,
): Readonly<ShallowRef<RefreshGateState>> {
  return follow(
    () => gate.state,
    (onChange) => gate.subscribe(onChange),
  );
}

/** The access token of `tokens`, keeping `null` (signed out) apart from `undefined` (not read yet). */
const accessTokenOf = (tokens: Tokens | null | undefined): string | null | undefined =>
  tokens === null ? null : tokens?.accessToken;

/**
 * A readonly ref of the access token held now: a string, `null` when signed out, `undefined` until
 * an async store's first read answered. For a token to send, prefer `await gate.getAccessToken()`:
 * it waits for a running refresh. `gate` defaults to the app's.
 *
 * @example
 * ```ts
 * const token = useAccessToken();
 * watch(token, (value) => (value ? socket.connect(value) : socket.close()));
 * ```
 */
export function useAccessToken(
  gate: RefreshGate = injected('useAccessToken()', 'gate').gate,
): Readonly<ShallowRef<string | null | undefined>> {
  return follow(
    () => accessTokenOf(gate.tokens),
    (onChange) => {
      const offTokens = gate.on('tokens:changed', onChange);
      // An async store's first read changes `signedIn`; `tokens:changed` may not be told of it.
      const offState = gate.subscribe(onChange);
      return () => {
        offTokens();
        offState();
      };
    },
  );
}
