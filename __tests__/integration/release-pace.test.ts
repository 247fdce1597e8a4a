/**
 * Held requests go out at the pace of the pool (issue 15): when a refresh ends, requests bound for
 * an agent with a bounded pool of sockets are released a slice at a time (twice the pool), the
 * next slice once the agent's own queue is shorter than four times the pool, in the order they
 * were held. Node's agent queues what it cannot start in an array it takes from with shift(),
 * which at 100,000 costs more than the requests themselves.
 */
import { Agent } from 'node:http';
import axios, { isCancel } from 'axios';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { login, refreshTokens } from '../../examples/storm.js';
import { createRefreshGate, isRefreshGateError, type Tokens } from '../../src/index.js';
import { deferred, flush } from '../helpers/deferred.js';
import { gateOnFakePool, settle } from '../helpers/pacing.js';

describe('on a real agent and server (loopback)', () => {
  let server: AuthServer;
  beforeEach(async () => {
    server = await startAuthServer({ accessTtlMs: 3_600_000 });
  });
  afterEach(() => server.close());

  test("500 held requests through an agent of 4 sockets: all succeed, one refresh, the agent's queue stays short", async () => {
    let longest = 0;
    /** An agent that records the longest its queue got. */
    class Measured extends Agent {
      addRequest(...args: unknown[]) {
        (Agent.prototype as unknown as { addRequest: (...a: unknown[]) => void }).addRequest.apply(
          this,
          args,
        );
        const queues = Object.values(this.requests).map((queue) => queue?.length ?? 0);
        longest = Math.max(longest, ...queues);
      }
    }
    const agent = new Measured({ keepAlive: true, maxSockets: 4 });
    const api = axios.create({ baseURL: server.url, httpAgent: agent });
    let expired: string | undefined;
    const gate = createRefreshGate({
      // The gate knows the first token expired: its requests are held before they are sent.
      getExpiry: (tokens) => (tokens.accessToken === expired ? Date.now() - 1_000 : undefined),
      refresh: ({ tokens, signal }) => refreshTokens(server.url, tokens?.refreshToken, signal),
    });
    gate.attach(api);
    try {
      const first = await login(server.url);
      expired = first.accessToken;
      await gate.setTokens(first);
      server.expireAll();
      const results = await Promise.allSettled(
        Array.from({ length: 500 }, (_, i) => api.get(`/api/items/${i}`)),
      );
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(500);
      expect(server.stats.refreshCalls).toBe(1);
      // Unpaced, the agent would have queued nearly all 500 at once.
      expect(longest).toBeGreaterThan(0);
      expect(longest).toBeLessThanOrEqual(4 * 4 + 2 * 4);
    } finally {
      gate.destroy();
      agent.destroy();
    }
  });
});

function heldBehindRefresh(maxSockets: number) {
  const refresh = deferred<Tokens>();
  return { refresh, ...gateOnFakePool(maxSockets, () => refresh.promise) };
}

describe('the pace, step by step', () => {
  test('a slice of twice the pool, then the next once the queue is shorter than four pools, in order', async () => {
    const { api, gate, refresh, sent, queue, drain } = heldBehindRefresh(2);
    await gate.setTokens({ accessToken: 'old' });
    const manual = gate.refresh();
    await flush();
    const requests = Array.from({ length: 30 }, (_, i) => api.get(`/r${i}`));
    await flush();
    expect(gate.state.waiting).toBe(30);
    refresh.resolve({ accessToken: 'new' });
    await manual;
    await settle();
    // Slices of 4 (a millisecond apart) until the agent's queue holds 8 (four pools): 8 sent.
    expect(sent).toHaveLength(8);
    await settle();
    expect(sent).toHaveLength(8);
    drain(1);
    await settle();
    // Shorter than 8 again: the next slice.
    expect(sent).toHaveLength(12);
    while (queue.length > 0) {
      drain();
      await settle();
    }
    const answers = await Promise.all(requests);
    expect(answers.map((answer) => answer.data)).toEqual(
      Array.from({ length: 30 }, (_, i) => `/r${i}`),
    );
    expect(sent.map(({ path }) => path)).toEqual(Array.from({ length: 30 }, (_, i) => `/r${i}`));
    gate.destroy();
  });

  test('destroy() while paced: the requests not yet released reject with DESTROYED; none hangs', async () => {
    const { api, gate, refresh, sent, drain } = heldBehindRefresh(2);
    await gate.setTokens({ accessToken: 'old' });
    const manual = gate.refresh();
    await flush();
    const requests = Array.from({ length: 20 }, (_, i) =>
      api.get(`/r${i}`).then(
        () => 'sent',
        (error: unknown) => (isRefreshGateError(error) ? error.code : 'other'),
      ),
    );
    await flush();
    refresh.resolve({ accessToken: 'new' });
    await manual;
    await settle();
    expect(sent).toHaveLength(8);
    gate.destroy();
    drain();
    await settle();
    const outcomes = await Promise.all(requests);
    expect(outcomes.filter((outcome) => outcome === 'sent')).toHaveLength(8);
    expect(outcomes.filter((outcome) => outcome === 'DESTROYED')).toHaveLength(12);
    expect(sent).toHaveLength(8);
  });

  test('a request aborted while paced is canceled, and the others go on', async () => {
    const { api, gate, refresh, sent, queue, drain } = heldBehindRefresh(1);
    await gate.setTokens({ accessToken: 'old' });
    const manual = gate.refresh();
    await flush();
    const controller = new AbortController();
    const requests = Array.from({ length: 8 }, (_, i) =>
      api.get(`/r${i}`, i === 6 ? { signal: controller.signal } : {}),
    );
    const aborted = requests[6]?.catch((error: unknown) => error);
    await flush();
    refresh.resolve({ accessToken: 'new' });
    await manual;
    await settle();
    expect(sent).toHaveLength(4);
    controller.abort();
    while (queue.length > 0 || sent.length < 7) {
      drain();
      await settle();
    }
    expect(isCancel(await aborted)).toBe(true);
    expect(sent.map(({ path }) => path)).not.toContain('/r6');
    await Promise.all(requests.filter((_, i) => i !== 6));
    gate.destroy();
  });
});
