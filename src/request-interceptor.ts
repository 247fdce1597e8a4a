import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import type { GateCore } from './gate-core.js';

/**
 * The request side of the gate for one instance: attaches the token, and holds the request while
 * a refresh runs or its token is about to expire (rules 2, 10). It answers synchronously with the
 * config on the hot path (valid token, no refresh), so a request costs a store read and a header.
 */
export function createRequestInterceptor(core: GateCore, instance: AxiosInstance) {
  return (
    config: InternalAxiosRequestConfig,
  ): InternalAxiosRequestConfig | Promise<InternalAxiosRequestConfig> => {
    if (core.destroyed || !core.allowed(config, instance)) return config;
    // The refresh call itself must never wait for the refresh (rule 7).
    if (core.isRefreshCall(config)) return core.attachForRefreshCall(config);
    return core.prepare(config);
  };
}
