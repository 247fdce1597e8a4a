/**
 * One process of a fleet that shares its tokens through Redis: a gate with `redisCoordinator` and
 * `redisStore` in front of the example auth server. Started by the fleet tests (and by
 * `examples/fleet/fleet.ts`) with `child_process.fork`, driven over IPC:
 *
 *   parent → { type: 'go' }        fire `requests` concurrent GETs
 *   worker → { type: 'ready' }     Redis connected, gate created
 *   worker → { type: 'refresh:start' | 'refresh:success' | 'refresh:failure', ... }
 *   worker → { type: 'done', report }
 *   parent → { type: 'exit' }      clean up and exit
 *
 * Its settings arrive as JSON in the environment variable FLEET_WORKER ({@link WorkerConfig}).
 */
import { Agent } from 'node:http';
import axios, { isAxiosError } from 'axios';
import Redis from 'ioredis';
import { createClient } from 'redis';
import { attachRefreshGate, isRefreshGateError } from '../../src/index.js';
import { redisCoordinator, redisStore } from '../../src/redis/index.js';
import { refreshTokens } from '../storm.js';

export interface WorkerConfig {
  name: string;
  authUrl: string;
  redisPort: number;
  /** The Redis key shared by the fleet (store and coordinator scope). */
  key: string;
  requests: number;
  lockTtlMs: number;
  refreshTimeoutMs: number;
  queueTimeoutMs: number;
  /** The Redis client this process uses. @default 'ioredis' */
  client?: 'ioredis' | 'node-redis';
}

export interface WorkerReport {
  name: string;
  requests: number;
  succeeded: number;
  /** Failures by kind: a RefreshGateError code, an HTTP status, or an error name. */
  errors: Record<string, number>;
  /** The first failure's message, to show what a user would see. */
  firstError?: string;
  /** Refreshes this process ran (not adopted from another process). */
  refreshes: number;
  ms: number;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'refresh:start' }
  | { type: 'refresh:success'; refreshed: boolean }
  | { type: 'refresh:failure'; message: string }
  | { type: 'done'; report: WorkerReport };

function errorKind(reason: unknown): string {
  if (isRefreshGateError(reason)) return reason.code;
  if (isAxiosError(reason))
    return reason.response ? String(reason.response.status) : (reason.code ?? 'network');
  return reason instanceof Error ? reason.name : typeof reason;
}

/** Either client, connected; `close()` ends it whatever state it is in. */
async function connect(config: WorkerConfig) {
  if (config.client === 'node-redis') {
    const client = createClient({ socket: { host: '127.0.0.1', port: config.redisPort } });
    client.on('error', () => {});
    await client.connect();
    return Object.assign(client, { close: () => client.destroy() });
  }
  const client = new Redis(config.redisPort, '127.0.0.1', { disconnectTimeout: 200 });
  client.on('error', () => {});
  await client.ping();
  return Object.assign(client, { close: () => client.disconnect() });
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.FLEET_WORKER ?? '') as WorkerConfig;
  const send = (message: WorkerMessage) => process.send?.(message);

  const redis = await connect(config);
  const agent = new Agent({ keepAlive: true });
  const api = axios.create({ baseURL: config.authUrl, httpAgent: agent });
  const coordinator = redisCoordinator({
    client: redis,
    key: config.key,
    lockTtlMs: config.lockTtlMs,
  });
  const gate = attachRefreshGate(api, {
    refresh: ({ tokens, signal }) => refreshTokens(config.authUrl, tokens?.refreshToken, signal),
    store: redisStore({ client: redis, key: config.key }),
    coordinator,
    refreshTimeoutMs: config.refreshTimeoutMs,
    queueTimeoutMs: config.queueTimeoutMs,
    logger: { debug: () => {}, warn: () => {} },
  });
  gate.on('refresh:start', () => send({ type: 'refresh:start' }));
  gate.on('refresh:success', (payload) =>
    send({ type: 'refresh:success', refreshed: (payload as { refreshed: boolean }).refreshed }),
  );
  gate.on('refresh:failure', (payload) =>
    send({ type: 'refresh:failure', message: String((payload as { error: unknown }).error) }),
  );

  process.on('message', async (message: { type: string }) => {
    if (message.type === 'go') {
      const started = performance.now();
      const results = await Promise.allSettled(
        Array.from({ length: config.requests }, (_, i) => api.get(`/api/${config.name}/${i}`)),
      );
      const errors: Record<string, number> = {};
      let firstError: string | undefined;
      for (const result of results) {
        if (result.status === 'fulfilled') continue;
        const kind = errorKind(result.reason);
        errors[kind] = (errors[kind] ?? 0) + 1;
        firstError ??=
          result.reason instanceof Error ? result.reason.message : String(result.reason);
      }
      const report: WorkerReport = {
        name: config.name,
        requests: config.requests,
        succeeded: results.filter((result) => result.status === 'fulfilled').length,
        errors,
        refreshes: gate.state.refreshes,
        ms: performance.now() - started,
      };
      if (firstError !== undefined) report.firstError = firstError;
      send({ type: 'done', report });
    } else if (message.type === 'exit') {
      gate.destroy();
      coordinator.dispose?.();
      agent.destroy();
      await redis.close();
      process.disconnect?.();
    }
  });
  send({ type: 'ready' });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
