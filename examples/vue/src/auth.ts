import type { AxiosInstance } from 'axios';
import type { GateEvent, RefreshGate, RefreshGateState } from 'axios-refresh-gate';
import {
  type App,
  type ComputedRef,
  computed,
  type InjectionKey,
  inject,
  type Ref,
  readonly,
  ref,
  shallowRef,
} from 'vue';
import { createAuthClient } from './auth-client';
import { exposeGateEvents } from './debug';

export interface Auth {
  readonly api: AxiosInstance;
  readonly gate: RefreshGate;
  /** The logged-in user, or null. */
  readonly user: Readonly<Ref<string | null>>;
  /** Why the last session ended on its own (its refresh failed), for the login page. */
  readonly notice: Readonly<Ref<string | null>>;
  /** The gate's status, re-read on each of its events. */
  readonly status: Readonly<Ref<RefreshGateState['status']>>;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  install(app: App): void;
}

const AUTH: InjectionKey<Auth> = Symbol('auth');

const STATE_EVENTS: GateEvent[] = [
  'refresh:start',
  'refresh:success',
  'refresh:failure',
  'tokens:changed',
];

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

  const status = shallowRef(gate.state.status);
  for (const event of STATE_EVENTS) {
    gate.on(event, () => {
      status.value = gate.state.status;
    });
  }

  const auth: Auth = {
    api,
    gate,
    user: readonly(user),
    notice: readonly(notice),
    status: readonly(status),
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

/** The gated axios instance: call your API with it and never think about tokens again. */
export function useApi(): AxiosInstance {
  return useAuth().api;
}

/** The gate's state for templates: its status and whether a refresh is running. */
export function useGate(): {
  status: Readonly<Ref<RefreshGateState['status']>>;
  refreshing: ComputedRef<boolean>;
} {
  const { status } = useAuth();
  return { status, refreshing: computed(() => status.value === 'refreshing') };
}
