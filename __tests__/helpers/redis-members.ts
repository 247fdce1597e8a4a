/**
 * Members of one Redis scope, each standing for one process: its own client, `redisCoordinator`,
 * `redisStore`, gate, and an API that answers 401 to the old tokens. Their refresh calls are
 * controllable promises, so a test decides when each answers.
 *
 * @example
 * ```ts
 * const members = redisMembers(() => new Redis(server.port, '127.0.0.1'));
 * afterEach(() => members.cleanup());
 * const { key, seed, a, b } = await members.scope(600);
 * const first = a.api.get('/me');
 * await until(() => a.calls.length === 1, "A's refresh call");
 * a.calls[0]?.answer.resolve({ accessToken: 'access-A', refreshToken: 'refresh-A' });
 * ```
 */
import axios from 'axios';
import MockAdapter from 'axios-mock-adapter';
import type Redis from 'ioredis';
import {
  createRefreshGate,
  type RefreshContext,
  type RefreshGate,
  type RefreshGateOptions,
  type Tokens,
} from '../../src/index.js';
import { redisCoordinator, redisStore } from '../../src/redis/index.js';
import { type Deferred, deferred } from './deferred.js';

export const OLD: Tokens = { accessToken: 'access-0', refreshToken: 'refresh-0' };

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `condition` holds; rejects naming `what` after `ms`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 3_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export interface Member {
  readonly client: Redis;
  readonly api: ReturnType<typeof axios.create>;
  readonly gate: RefreshGate;
  readonly calls: Array<{ ctx: RefreshContext; answer: Deferred<Tokens> }>;
  readonly failures: unknown[];
}

export function redisMembers(connect: () => Redis) {
  const gates: RefreshGate[] = [];
  const coordinators: Array<{ dispose?(): void }> = [];
  let scopes = 0;

  /**
   * With `onAbort`, the refresh honours ctx.signal: it rejects with what `onAbort` returns.
   * `overrides` replace the gate's options (refreshTimeoutMs and queueTimeoutMs are 10 s).
   */
  function member(
    key: string,
    lockTtlMs: number,
    onAbort?: () => unknown,
    overrides: Partial<RefreshGateOptions> = {},
  ): Member {
    const client = connect();
    const calls: Member['calls'] = [];
    const failures: unknown[] = [];
    const api = axios.create({ baseURL: 'https://api.test' });
    new MockAdapter(api).onGet('/me').reply((config) => {
      const auth = String(config.headers?.Authorization ?? '');
      return auth === `Bearer ${OLD.accessToken}` ? [401] : [200, { auth }];
    });
    const coordinator = redisCoordinator({ client, key, lockTtlMs });
    coordinators.push(coordinator);
    const gate = createRefreshGate({
      refresh: (ctx) => {
        const answer = deferred<Tokens>();
        calls.push({ ctx, answer });
        if (onAbort) {
          ctx.signal.addEventListener('abort', () => answer.reject(onAbort()), { once: true });
        }
        return answer.promise;
      },
      store: redisStore({ client, key: `${key}:tokens` }),
      coordinator,
      refreshTimeoutMs: 10_000,
      queueTimeoutMs: 10_000,
      onRefreshFailed: (error) => failures.push(error),
      logger: { debug() {}, warn() {} },
      ...overrides,
    });
    gate.attach(api);
    gates.push(gate);
    return { client, api, gate, calls, failures };
  }

  return {
    member,
    /** A new scope holding OLD, a seed client for the test's own commands, and members A and B. */
    async scope(lockTtlMs: number, onAbort?: () => unknown) {
      const key = `scope:${++scopes}:${Date.now()}`;
      const seed = connect();
      await seed.set(`${key}:tokens`, JSON.stringify(OLD));
      return { key, seed, a: member(key, lockTtlMs, onAbort), b: member(key, lockTtlMs) };
    },
    /** The tokens the scope's store holds. */
    async stored(client: Redis, key: string): Promise<Tokens | null> {
      return JSON.parse((await client.get(`${key}:tokens`)) ?? 'null') as Tokens | null;
    },
    /** Destroys the gates and disposes of the coordinators (not owned by the gates). */
    cleanup() {
      for (const gate of gates.splice(0)) gate.destroy();
      for (const coordinator of coordinators.splice(0)) coordinator.dispose?.();
    },
  };
}
