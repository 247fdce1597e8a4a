// A Vue app's use of ./vue under the strict settings: the plugin, the composables, their types.
import axios from 'axios';
import { attachRefreshGate, type RefreshGateState } from 'axios-refresh-gate';
import {
  createRefreshGatePlugin,
  refreshGateKey,
  useAccessToken,
  useApi,
  useGateState,
  useRefreshGate,
} from 'axios-refresh-gate/vue';
import { createApp, defineComponent, h, type Ref } from 'vue';

const api = axios.create({ baseURL: 'https://api.example.com' });
const gate = attachRefreshGate(api, { refresh: async () => 'token' });

const Status = defineComponent({
  setup() {
    const state: Readonly<Ref<RefreshGateState>> = useGateState();
    const token: Readonly<Ref<string | null | undefined>> = useAccessToken();
    void [useApi(), useRefreshGate(), token, refreshGateKey];
    return () => h('span', state.value.status);
  },
});

export const app = createApp(Status).use(createRefreshGatePlugin(gate, { api: undefined }));
