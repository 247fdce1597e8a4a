import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import type { GateCore } from './gate-core.js';
import { isThenable } from './token-cache.js';
import type { Tokens } from './types.js';

type Config = InternalAxiosRequestConfig;

/**
 * The request side of the gate for one instance: the decision flow of one request before it is
 * sent. On the hot path (a valid token, no refresh) it answers synchronously with the config, so a
 * request costs a store read, an expiry check and a header.
 */
export function createRequestInterceptor(core: GateCore, instance: AxiosInstance) {
  /** With the tokens known and no refresh running: send, or refresh first. */
  const send = (config: Config, tokens: Tokens | null): Config | Promise<Config> => {
    // Rules 6 and 10: never past its expiry, and refreshed ahead of it.
    const first = tokens && core.refreshFirst(tokens);
    if (first) return core.hold(config, first);
    core.place(config, tokens);
    return config;
  };

  /** After an async store's first read: the gate may have changed while the request waited. */
  const resume = (config: Config, tokens: Tokens | null): Config | Promise<Config> => {
    if (core.destroyed) throw core.destroyedError();
    const running = core.flight;
    return running ? core.hold(config, running) : send(config, tokens);
  };

  return (config: Config): Config | Promise<Config> => {
    // Rule 12: other origins are none of the gate's business: untouched, never held.
    if (!core.allowed(config, instance)) return core.passes(config);
    // Rule 13: a request begun in the tick destroy() ran in is not sent.
    if (core.destroyed) throw core.destroyedError();
    core.keepBody(config);
    // Rule 7: the refresh call itself never waits for the refresh.
    if (core.isRefreshCall(config)) return core.placeForRefreshCall(config);
    // Rule 2: while a refresh runs, every request waits for it.
    const running = core.flight;
    if (running) return core.hold(config, running);
    // Rule 18: waiting for an async store's first read is waiting like any other.
    const tokens = core.tokens(config);
    if (isThenable<Tokens | null>(tokens)) return tokens.then((read) => resume(config, read));
    return send(config, tokens);
  };
}
