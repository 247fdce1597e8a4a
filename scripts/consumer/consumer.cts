// Compile-only: what a CommonJS consumer of the built package sees (dist/index.d.ts).
import axios = require('axios');
import gateModule = require('axios-refresh-gate');

const api = axios.create({ baseURL: 'https://api.example.com' });
const gate: gateModule.RefreshGate = gateModule.attachRefreshGate(api, {
  refresh: async () => 'token',
});

// The axios augmentation must have come along with the package's types.
void api.post('/auth/refresh', undefined, { skipAuthRefresh: true });
api.interceptors.request.use((config: axios.InternalAxiosRequestConfig) => {
  const skip: boolean | undefined = config.skipAuthRefresh;
  void skip;
  return config;
});
// @ts-expect-error skipAuthRefresh is a boolean
void api.get('/me', { skipAuthRefresh: 'yes' });

export = [gate, gateModule.isRefreshGateError];
