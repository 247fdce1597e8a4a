import axios, { type AxiosAdapter, type InternalAxiosRequestConfig } from 'axios';
import { createRefreshGate, type Tokens } from '../../src/index.js';
import { flush } from './deferred.js';

/** A request the fake pool's adapter took: its path, the token it carried, and its answer. */
export interface Taken {
  readonly path: string;
  readonly auth: unknown;
  readonly answer: () => void;
}

/**
 * An agent whose queue the test drains, for the gate's paced release: the adapter puts each
 * request in the agent's queue for api.test:443 and answers it (200, its path) when the test takes
 * it out with `drain`; `answers: false` never answers (a hung server). A class instance, since
 * axios' mergeConfig copies a plain object and keeps an agent as it is.
 */
export function fakePool(maxSockets: number, { answers = true }: { answers?: boolean } = {}) {
  const queue: Taken[] = [];
  class FakeAgent {
    readonly maxSockets = maxSockets;
    readonly requests = { 'api.test:443:': queue };
  }
  const agent = new FakeAgent();
  const sent: Taken[] = [];
  const adapter: AxiosAdapter = (config: InternalAxiosRequestConfig) =>
    new Promise((resolve) => {
      const path = String(config.url);
      const taken: Taken = {
        path,
        auth: config.headers.Authorization,
        answer: () => {
          if (answers) resolve({ status: 200, statusText: 'OK', headers: {}, config, data: path });
        },
      };
      sent.push(taken);
      queue.push(taken);
    });
  /** Answers the first `n` queued requests (all by default). */
  const drain = (n = queue.length) => {
    for (const { answer } of queue.splice(0, n)) answer();
  };
  return { agent, adapter, sent, queue, drain };
}

/** Lets the pacer look at the queue again (it does every millisecond while the queue is long). */
export async function settle(): Promise<void> {
  await flush(10);
  await new Promise((resolve) => setTimeout(resolve, 5));
  await flush(10);
}

/** `promise`'s outcome, or 'still pending' after `ms` (the timer cleared either way). */
export async function race<T>(promise: Promise<T>, ms: number): Promise<T | 'still pending'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<'still pending'>((resolve) => {
        timer = setTimeout(() => resolve('still pending'), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A gate on an instance whose requests go through a {@link fakePool}, refreshing with `refresh`. */
export function gateOnFakePool(maxSockets: number, refresh: () => Promise<Tokens>) {
  const pool = fakePool(maxSockets);
  const api = axios.create({
    baseURL: 'https://api.test',
    httpsAgent: pool.agent,
    adapter: pool.adapter,
  });
  const gate = createRefreshGate({
    refresh,
    logger: { debug() {}, warn() {} },
    refreshTimeoutMs: 0,
    queueTimeoutMs: 0,
  });
  gate.attach(api);
  return { api, gate, ...pool };
}
