// Compile-only: what an ESM consumer of the built package sees (dist/index.d.mts).
import axios, { type InternalAxiosRequestConfig } from 'axios';
import { attachRefreshGate, isRefreshGateError, type RefreshGate } from 'axios-refresh-gate';

const api = axios.create({ baseURL: 'https://api.example.com' });
const gate: RefreshGate = attachRefreshGate(api, { refresh: async () => 'token' });

// The axios augmentation must have come along with the package's types.
void api.post('/auth/refresh', undefined, { skipAuthRefresh: true });
api.interceptors.request.use((config: InternalAxiosRequestConfig) => {
  const skip: boolean | undefined = config.skipAuthRefresh;
  void skip;
  return config;
});
// @ts-expect-error skipAuthRefresh is a boolean
void api.get('/me', { skipAuthRefresh: 'yes' });

export const check = [gate, isRefreshGateError];
