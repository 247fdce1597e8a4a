import { runInThisContext } from 'node:vm';
import axios, { type AxiosInstance, type InternalAxiosRequestConfig } from 'axios';
import MockAdapter from 'axios-mock-adapter';
import { flush } from './deferred.js';

/** One request that reached the (mock) server, with the token it carried. */
export interface SentRequest {
  readonly method: string;
  readonly url: string;
  /** The bearer token of its `Authorization` header, `null` when it had none. */
  readonly token: string | null;
}

/** What a route answers: `[status, data?, headers?]`, as axios-mock-adapter takes it. */
export type Reply = [number, unknown?, Record<string, string>?];

/** Answers one request to a path; may be async to hold the response open. */
export type Route = (
  request: SentRequest,
  config: InternalAxiosRequestConfig,
) => Reply | Promise<Reply>;

export interface MockApi {
  /** An `axios.create(...)` instance whose adapter is the mock. */
  readonly api: AxiosInstance;
  readonly mock: MockAdapter;
  /** The access token the server accepts now; any other token (or none) gets a 401. */
  token: string;
  /** When set, decides instead of `token` which tokens the server accepts (checked as each request arrives). */
  accept?: ((token: string | null) => boolean) | undefined;
  /** Every request that went out, in order. */
  readonly sent: SentRequest[];
  /** The requests that went out carrying `token`. */
  sentWith(token: string | null): SentRequest[];
  /** The requests that went out to `url`. */
  sentTo(url: string): SentRequest[];
  /** Answers `url` with `route` instead of the default 200-for-the-current-token rule. */
  route(url: string, route: Route): void;
}

/** The default answer: 200 `{ url, token }` for the current token, 401 otherwise. */
export const authorized = (api: MockApi, request: SentRequest): Reply =>
  (api.accept ? api.accept(request.token) : request.token === api.token)
    ? [200, { url: request.url, token: request.token }]
    : [401, { error: 'invalid_token', token: request.token }];

const readToken = (config: InternalAxiosRequestConfig): string | null => {
  const header = config.headers?.Authorization ?? config.headers?.authorization;
  if (typeof header !== 'string') return null;
  return header.startsWith('Bearer ') ? header.slice('Bearer '.length) : header;
};

/**
 * An axios instance on axios-mock-adapter whose server answers 200 only for the *current* token
 * (`token`, changed by the test when its refresh hands out a new one) and 401 otherwise, and that
 * records which token every request carried, so that a test can assert that no request went out
 * with the old token.
 *
 * @example
 * ```ts
 * const server = mockApi({ baseURL: 'https://api.test', token: 'A1' });
 * attachRefreshGate(server.api, { refresh: async () => 'A1', initialTokens: { accessToken: 'A0' } });
 * await server.api.get('/me'); // 401 with A0, refresh, replay with A1: 200
 * expect(server.sentWith('A1')).toHaveLength(1);
 * ```
 */
export function mockApi(
  options: {
    baseURL?: string;
    token?: string;
    /** Where the server finds the token (default: the bearer token of `Authorization`). */
    readToken?: (config: InternalAxiosRequestConfig) => string | null;
  } = {},
): MockApi {
  const tokenOf = options.readToken ?? readToken;
  const api = axios.create(options.baseURL === undefined ? {} : { baseURL: options.baseURL });
  const mock = new MockAdapter(api);
  const routes = new Map<string, Route>();
  const server: MockApi = {
    api,
    mock,
    token: options.token ?? 'A1',
    sent: [],
    sentWith: (token) => server.sent.filter((request) => request.token === token),
    sentTo: (url) => server.sent.filter((request) => request.url === url),
    route: (url, route) => {
      routes.set(url, route);
    },
  };
  mock.onAny().reply((config) => {
    const request: SentRequest = {
      method: (config.method ?? 'get').toUpperCase(),
      url: config.url ?? '',
      token: tokenOf(config as InternalAxiosRequestConfig),
    };
    server.sent.push(request);
    const route = routes.get(request.url);
    return route
      ? route(request, config as InternalAxiosRequestConfig)
      : authorized(server, request);
  });
  return server;
}

/** A promise observed from the start, so that a rejection is handled and its state readable. */
export interface Observed<T> {
  readonly settled: boolean;
  readonly result: Promise<PromiseSettledResult<T>>;
}

/**
 * Observes `promise` at once: a request that rejects later is never an unhandled rejection, and
 * `settled` tells whether it is still waiting.
 */
export function observe<T>(promise: Promise<T>): Observed<T> {
  let settled = false;
  const result = promise.then(
    (value): PromiseSettledResult<T> => {
      settled = true;
      return { status: 'fulfilled', value };
    },
    (reason: unknown): PromiseSettledResult<T> => {
      settled = true;
      return { status: 'rejected', reason };
    },
  );
  return {
    get settled() {
      return settled;
    },
    result,
  };
}

/** The value of a fulfilled observation; fails the test with the reason otherwise. */
export async function fulfilled<T>(observed: Observed<T>): Promise<T> {
  const outcome = await observed.result;
  if (outcome.status === 'rejected') {
    throw new Error(`expected the request to succeed, it rejected with ${String(outcome.reason)}`, {
      cause: outcome.reason,
    });
  }
  return outcome.value;
}

/** The reason of a rejected observation; fails the test when it fulfilled. */
export async function rejected(observed: Observed<unknown>): Promise<unknown> {
  const outcome = await observed.result;
  if (outcome.status === 'fulfilled') throw new Error('expected the request to reject');
  return outcome.reason;
}

/**
 * Installs an `unhandledRejection` spy on the real process for every test of the file, and fails
 * the test in `afterEach` when it was called. Jest gives a test file its own copy of `process`,
 * whose listeners Node never calls, so the spy goes on the process of the main context.
 */
export function watchUnhandledRejections(): jest.Mock {
  const realProcess = runInThisContext('process') as NodeJS.Process;
  const spy = jest.fn();
  beforeEach(() => {
    spy.mockClear();
    realProcess.on('unhandledRejection', spy);
  });
  afterEach(async () => {
    // Node reports unhandled rejections after the microtask queue drains: let it run first.
    await flush(3);
    realProcess.off('unhandledRejection', spy);
    expect(spy).not.toHaveBeenCalled();
  });
  return spy;
}

/**
 * Jest fake timers for the timing rules: `Date` and `setTimeout` are faked (the gate reads both
 * through wrapper arrows); `setImmediate` and the microtask queues stay real, so that `flush()`
 * and axios' promise chains still run.
 */
export function useFakeClock(): void {
  jest.useFakeTimers({
    doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate'],
  });
}

/**
 * Returns `keep(gate)`, which hands the gate back and destroys it after the test, so that a
 * failing test leaves no timer or waiter behind for the next one.
 */
export function destroyAfterEach(): <G extends { destroy(): void }>(gate: G) => G {
  const gates: Array<{ destroy(): void }> = [];
  afterEach(() => {
    for (const gate of gates.splice(0)) gate.destroy();
  });
  return (gate) => {
    gates.push(gate);
    return gate;
  };
}
