import { createRefreshGatePlugin } from 'axios-refresh-gate/vue';
import { type App, type InjectionKey, inject, type Ref, readonly, ref } from 'vue';
import { createAuthClient } from './auth-client';
import { exposeGateEvents } from './debug';

/**
 * The app's own part of the session: who is logged in and how. The gate, its state and the gated
 * axios instance come from `axios-refresh-gate/vue` (`useRefreshGate`, `useGateState`, `useApi`),
 * which this plugin installs.
 */
export interface Auth {
  /** The logged-in user, or null. */
  readonly user: Readonly<Ref<string | null>>;
  /** Why the last session ended on its own (its refresh failed), for the login page. */
  readonly notice: Readonly<Ref<string | null>>;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  install(app: App): void;
}

const AUTH: InjectionKey<Auth> = Symbol('auth');

/**
 * A Vue plugin owning one gate for one axios instance, and the session state:
 * `createApp(App).use(createAuth({ authUrl })).mount('#app')`. When a refresh fails the session
 * ends once: the gate calls `onRefreshFailed` once per failed refresh, and `ended` keeps a late
 * second failure from ending it again.
 */
export function createAuth({ authUrl }: { authUrl: string }): Auth {
  const user = ref<string | null>(null);
  const notice = ref<string | null>(null);
  let ended = true;

  const client = createAuthClient(authUrl, () => {
    if (ended) return;
    ended = true;
    user.value = null;
    notice.value = 'Your session expired. Please log in again.';
    void client.logout();
  });
  const { api, gate } = client;

  const auth: Auth = {
    user: readonly(user),
    notice: readonly(notice),
    async login(username, password) {
      await client.login(username, password);
      ended = false;
      notice.value = null;
      user.value = username;
    },
    async logout() {
      ended = true;
      user.value = null;
      await client.logout();
    },
    install(app) {
      app.use(createRefreshGatePlugin(gate, { api }));
      app.provide(AUTH, auth);
      exposeGateEvents(gate);
    },
  };
  return auth;
}

export function useAuth(): Auth {
  const auth = inject(AUTH);
  if (!auth) throw new Error('useAuth() needs app.use(createAuth(...))');
  return auth;
}
