import type { AxiosInstance } from 'axios';
import { RefreshGateError } from './errors.js';
import { GateCore } from './gate-core.js';
import { resolveOptions } from './options.js';
import { createRequestInterceptor } from './request-interceptor.js';
import { createResponseInterceptor } from './response-interceptor.js';
import { unlinkGuard } from './token-placement.js';
import type { RefreshGate, RefreshGateOptions, RefreshGateState, Tokens } from './types.js';

/**
 * Creates a refresh gate: one lock, one token, shared by every axios instance it is attached to.
 * Framework-agnostic: `getAccessToken()` serves fetch and WebSockets too.
 *
 * @throws {RefreshGateError} `INVALID_OPTIONS`, naming the option, when an option is invalid.
 * @example
 * ```ts
 * const gate = createRefreshGate({
 *   refresh: async ({ tokens, signal }) =>
 *     (await axios.post('/auth/refresh', { refreshToken: tokens?.refreshToken }, { signal })).data,
 * });
 * gate.attach(api);
 * await gate.setTokens(await login());
 * ```
 */
export function createRefreshGate(options: RefreshGateOptions): RefreshGate {
  const core = new GateCore(resolveOptions(options));
  const attachments = new Map<AxiosInstance, () => void>();
  return publicGate(
    () => core,
    (instance) => {
      if (core.destroyed)
        throw new RefreshGateError(
          'DESTROYED',
          'the refresh gate was destroyed; create a new one to attach',
        );
      const existing = attachments.get(instance);
      if (existing) return existing;
      // Rule 19: on the defaults, so that every request carries it from axios' own merge.
      const guard = core.redirectGuard(instance, instance.defaults.beforeRedirect);
      instance.defaults.beforeRedirect = guard;
      const request = instance.interceptors.request.use(createRequestInterceptor(core, instance));
      const { accepted, rejected } = createResponseInterceptor(core, instance);
      const response = instance.interceptors.response.use(accepted, rejected);
      const detach = () => {
        if (attachments.get(instance) !== detach) return;
        attachments.delete(instance);
        instance.interceptors.request.eject(request);
        instance.interceptors.response.eject(response);
        (instance.defaults as { beforeRedirect?: unknown }).beforeRedirect = unlinkGuard(
          instance.defaults.beforeRedirect,
          guard,
        );
      };
      attachments.set(instance, detach);
      return detach;
    },
    () => {
      for (const detach of [...attachments.values()]) detach();
    },
  );
}

/**
 * The public face of one core: `attach` and `detachAll` are the owner's (a gate, a group). A class,
 * so that a group of 10,000 gates does not pay for 10,000 sets of closures; the methods an app
 * passes around as callbacks (`subscribe` to useSyncExternalStore, `getAccessToken` to a socket
 * client, `clear` to a button) are bound fields.
 */
class PublicGate implements RefreshGate {
  /** The machine: a group's parked gate gets a new one when it is used again. */
  readonly #core: () => GateCore;
  readonly #attach: (instance: AxiosInstance) => () => void;
  readonly #detachAll: () => void;

  constructor(
    core: () => GateCore,
    attach: (instance: AxiosInstance) => () => void,
    detachAll: () => void,
  ) {
    this.#core = core;
    this.#attach = attach;
    this.#detachAll = detachAll;
  }

  readonly attach = (instance: AxiosInstance): (() => void) => this.#attach(instance);

  readonly getAccessToken = (): Promise<string | null> => this.#core().getAccessToken();
  readonly refresh = (): Promise<Tokens> => this.#core().refresh();
  readonly setTokens = (tokens: Tokens): Promise<void> => this.#core().setTokens(tokens);
  readonly clear = (): Promise<void> => this.#core().clear();
  readonly subscribe = (listener: () => void): (() => void) => this.#core().subscribe(listener);
  readonly on: RefreshGate['on'] = (event, listener) => this.#core().on(event, listener);

  get state(): RefreshGateState {
    return this.#core().state;
  }

  get tokens(): Tokens | null | undefined {
    return this.#core().held;
  }

  readonly destroy = (): void => {
    this.#detachAll();
    this.#core().destroy();
  };
}

export const publicGate = (
  core: () => GateCore,
  attach: (instance: AxiosInstance) => () => void,
  detachAll: () => void,
): RefreshGate => new PublicGate(core, attach, detachAll);

/**
 * Creates a gate and attaches it to `instance` in one call.
 *
 * @example
 * ```ts
 * const api = axios.create({ baseURL: 'https://api.example.com' });
 * const gate = attachRefreshGate(api, { refresh, initialTokens });
 * ```
 */
export function attachRefreshGate(
  instance: AxiosInstance,
  options: RefreshGateOptions,
): RefreshGate {
  const gate = createRefreshGate(options);
  gate.attach(instance);
  return gate;
}
