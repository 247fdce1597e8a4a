/**
 * Hot path: sequential GETs with a valid token through axios-mock-adapter (CPU bound), each client
 * on its own instance, interleaved rounds with a rotating order; medians and the median of the
 * per-round ratios to bare axios with a static Authorization header.
 */
import type { ClientName } from './clients.js';
import { type BenchClient, clientFactories } from './clients.js';
import { benchTokens } from './held.js';
import { median, mocked, quartiles, type Timing, timeRequests } from './shared.js';

export const HOT_PATH_CLIENTS: readonly ClientName[] = [
  'bare',
  'gate',
  'axios-auth-refresh',
  'axios-jwt',
];

export interface HotPathResult {
  client: ClientName;
  /** Median µs/request over the rounds. */
  cpuUs: number;
  wallUs: number;
  /** Median of the per-round ratios to bare (same round, back to back). */
  ratioCpu: number;
  ratioWall: number;
  /** First and third quartile of the per-round CPU ratios to bare: the run-to-run spread. */
  ratioCpuQuartiles: [number, number];
  /** CPU µs/request in each round, in round order (to compare two clients round by round). */
  cpuPerRound: number[];
}

export async function hotPath(
  rounds: number,
  batch: number,
  warmup: number,
): Promise<HotPathResult[]> {
  const tokens = benchTokens(24 * 3600_000, 'hot');
  const refresh = async () => {
    throw new Error('the hot path must not refresh');
  };
  const clients = new Map<ClientName, BenchClient>();
  // One at a time: axios-jwt keeps its storage in module state, so its setup must come last.
  for (const name of HOT_PATH_CLIENTS) {
    clients.set(name, await clientFactories[name]({ tokens, refresh, prepare: mocked }));
  }
  try {
    for (const [name, client] of clients) {
      const { data } = await client.api.get<{ auth?: unknown }>('/x');
      if (data.auth !== `Bearer ${tokens.accessToken}`) {
        throw new Error(`${name} sent ${String(data.auth)}`);
      }
      await timeRequests(client.api, warmup);
    }
    const times = new Map<ClientName, Timing[]>(HOT_PATH_CLIENTS.map((name) => [name, []]));
    const order = [...HOT_PATH_CLIENTS];
    for (let round = 0; round < rounds; round++) {
      // Rotate who goes first, so that drift (JIT, GC, CPU frequency, other work) hits all alike.
      for (let i = 0; i < order.length; i++) {
        const name = order[(i + round) % order.length]!;
        times.get(name)!.push(await timeRequests(clients.get(name)!.api, batch));
      }
    }
    for (const [name, client] of clients) {
      if (client.refreshCalls() !== 0) throw new Error(`${name} refreshed on the hot path`);
    }
    const bare = times.get('bare')!;
    return HOT_PATH_CLIENTS.map((name) => {
      const own = times.get(name)!;
      return {
        client: name,
        cpuUs: median(own.map((time) => time.cpu)),
        wallUs: median(own.map((time) => time.wall)),
        ratioCpu: median(own.map((time, round) => time.cpu / bare[round]!.cpu)),
        ratioCpuQuartiles: quartiles(own.map((time, round) => time.cpu / bare[round]!.cpu)),
        cpuPerRound: own.map((time) => time.cpu),
        ratioWall: median(own.map((time, round) => time.wall / bare[round]!.wall)),
      };
    });
  } finally {
    for (const client of clients.values()) client.dispose();
  }
}
