/**
 * What the retry tests share (transient-failures, adversarial-issue13): a fake clock with jitter
 * pinned to its ceiling, axios errors as a refresh call rejects with, and a gate on a mock API
 * that records its retries and failures.
 */
import { AxiosError, AxiosHeaders } from 'axios';
import { createRefreshGate, type RefreshGateOptions, type Tokens } from '../../src/index.js';
import { controlledRefresh, mockApi } from './gate-fixtures.js';

export const NOW = 1_700_000_000_000;
export const OLD: Tokens = { accessToken: 'old', refreshToken: 'r0' };
export const NEW: Tokens = { accessToken: 'new', refreshToken: 'r1' };

const gates: Array<{ destroy(): void }> = [];

/** Destroyed after the test, with the gates retryWorld made. */
export function keepGate<G extends { destroy(): void }>(gate: G): G {
  gates.push(gate);
  return gate;
}

/** Fake timers from NOW, full jitter pinned to its ceiling (delays are base * 2^attempt). */
export function useRetryClock(): void {
  afterEach(() => {
    for (const gate of gates.splice(0)) gate.destroy();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });
  beforeEach(() => {
    jest.useFakeTimers({ now: NOW, doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    jest.spyOn(Math, 'random').mockReturnValue(1);
  });
}

/**
 * An axios error as a request would reject with: `status` answered, or none (network); for
 * `config` when given (an adapter's own request), else a config of its own.
 */
export function httpError(
  status?: number,
  headers: Record<string, string> = {},
  config: object = { headers: new AxiosHeaders() },
): AxiosError {
  const response =
    status === undefined
      ? undefined
      : { status, statusText: '', headers, config, data: { error: 'x' } };
  return new AxiosError(
    status === undefined ? 'Network Error' : `Request failed with status code ${status}`,
    status === undefined ? 'ERR_NETWORK' : 'ERR_BAD_RESPONSE',
    config as never,
    {},
    response as never,
  );
}

/** A gate on a mock API that takes `new`, its refresh held open, its retries and failures recorded. */
export function retryWorld(options: Partial<RefreshGateOptions> = {}, tokens: Tokens | null = OLD) {
  const server = mockApi('new');
  const control = controlledRefresh();
  const onRefreshFailed = jest.fn();
  const gate = createRefreshGate({
    refresh: control.refresh,
    ...(tokens ? { initialTokens: tokens } : {}),
    onRefreshFailed,
    ...options,
  });
  gates.push(gate);
  gate.attach(server.api);
  const retries: unknown[] = [];
  gate.on('refresh:retry', (event) => retries.push(event));
  const failures: unknown[] = [];
  gate.on('refresh:failure', (event) => failures.push(event));
  return { server, control, gate, onRefreshFailed, retries, failures };
}
