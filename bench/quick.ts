/**
 * Quick benchmark: what the gate costs a request.
 *
 *   npm run bench:quick                 # full run, ~30 s (most of it: 10,000 real axios requests)
 *   npm run bench:quick -- --smoke      # tiny, for CI: proves it runs, measures little
 *   npm run bench:quick -- --n 20000 --rounds 61 --batch 2000
 *
 * (a) Hot path: sequential GETs through axios-mock-adapter, bare axios with a static Authorization
 *     header versus an instance with attachRefreshGate (a valid token that never expires).
 *     Interleaved rounds, alternating which side goes first; the median µs/request of each side
 *     (process CPU time and wall time) and the median of the per-round ratios gate/bare (target:
 *     <= 1.05). CPU time is the steadier figure on a machine shared with other work.
 * (b) Heap per waiting request: N requests held behind a refresh that a deferred keeps open,
 *     versus N bare axios requests pending on a loopback server that does not answer until the
 *     end. Heap delta after gc, divided by N.
 * (c) Heap per gate of a createRefreshGateGroup, its tokens in one Map for every user as a server
 *     keeps sessions: a gate used a moment ago, an idle one once the sweep parked it (goal: at
 *     most 1 KB), and what is left once the gates are deleted. It waits 16 s for the parking.
 *
 * It prints figures and asserts nothing about time; it exits non-zero only when something throws.
 * It needs `--expose-gc` (the npm script passes it; run directly, it re-executes itself with it).
 */
import { parseArgs } from 'node:util';
import axios from 'axios';
import type { GateLogger, Tokens } from '../src/index.js';
import { attachRefreshGate, createRefreshGateGroup } from './package.js';
import {
  deferred,
  heapAfterGc,
  median,
  mocked,
  openFileLimit,
  pendingBare,
  positiveInteger,
  reExecWithGc,
  sleep,
  startHoldServer,
  type Timing,
  timeRequests,
  until,
} from './shared.js';

const TOKEN = 'static-access-token-0123456789';
const quiet: GateLogger = { debug: () => {}, warn: () => {} };

// ---- (a) hot path -------------------------------------------------------------------------------

async function hotPath(rounds: number, batch: number, warmup: number) {
  const bare = mocked(axios.create({ headers: { Authorization: `Bearer ${TOKEN}` } }));
  const gated = mocked(axios.create());
  const gate = attachRefreshGate(gated, {
    refresh: async () => {
      throw new Error('the hot path must not refresh');
    },
    initialTokens: { accessToken: TOKEN },
    logger: quiet,
  });

  for (const [name, api] of [
    ['bare', bare],
    ['gate', gated],
  ] as const) {
    const { data } = await api.get<{ auth?: unknown }>('/x');
    if (data.auth !== `Bearer ${TOKEN}`) throw new Error(`${name}: sent ${String(data.auth)}`);
  }
  await timeRequests(bare, warmup);
  await timeRequests(gated, warmup);

  const bareTimes: Timing[] = [];
  const gateTimes: Timing[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate who goes first, so that drift (JIT, GC, CPU frequency) hits both sides alike.
    if (round % 2 === 0) {
      bareTimes.push(await timeRequests(bare, batch));
      gateTimes.push(await timeRequests(gated, batch));
    } else {
      gateTimes.push(await timeRequests(gated, batch));
      bareTimes.push(await timeRequests(bare, batch));
    }
  }
  const { refreshes, failures } = gate.state;
  gate.destroy();
  if (refreshes + failures !== 0) throw new Error('the hot path refreshed');
  const summary = (times: Timing[]): Timing => ({
    wall: median(times.map((time) => time.wall)),
    cpu: median(times.map((time) => time.cpu)),
  });
  // Each round's two batches ran back to back, so their ratio cancels the machine's slow drifts
  // (other processes, thermal); the median of those ratios is the figure to read.
  const ratios = (of: (time: Timing) => number): number =>
    median(gateTimes.map((time, round) => of(time) / of(bareTimes[round]!)));
  return {
    bare: summary(bareTimes),
    gate: summary(gateTimes),
    ratio: { cpu: ratios((time) => time.cpu), wall: ratios((time) => time.wall) },
  };
}

// ---- (b) heap per waiting request ---------------------------------------------------------------

async function heldByGate(n: number, gc: () => void): Promise<number> {
  const api = mocked(axios.create());
  const refresh = deferred<Tokens>();
  const gate = attachRefreshGate(api, {
    refresh: () => refresh.promise,
    initialTokens: { accessToken: 'old-token' },
    // Far beyond the run, so that nothing times out on a slow machine.
    refreshTimeoutMs: 600_000,
    queueTimeoutMs: 600_000,
    logger: quiet,
  });
  const manual = gate.refresh();
  await until('the refresh to start', () => gate.state.status === 'refreshing');

  const requests = new Array<Promise<unknown>>(n);
  const before = await heapAfterGc(gc);
  for (let i = 0; i < n; i++) requests[i] = api.get('/x');
  // The manual refresh() call waits for the refresh itself and is not counted in `waiting`.
  await until(`${n} requests held by the gate`, () => gate.state.waiting === n);
  const after = await heapAfterGc(gc);

  refresh.resolve({ accessToken: 'new-token' });
  await manual;
  const responses = await Promise.all(requests);
  gate.destroy();
  const sentWith = (response: unknown) => (response as { data?: { auth?: unknown } }).data?.auth;
  if (responses.some((response) => sentWith(response) !== 'Bearer new-token')) {
    throw new Error('a held request was not sent with the new token');
  }
  return (after - before) / n;
}

async function heapPerRequest(n: number, warmup: number, gc: () => void) {
  // Leave room for everything else the process has open.
  const bareN = Math.min(n, openFileLimit() - 256);
  if (bareN < 1) throw new Error('too few file descriptors for the bare comparison');
  const server = await startHoldServer();
  try {
    // Warm-up: lazily built module state (axios' adapters, the agent, the gate) is not per request.
    await heldByGate(warmup, gc);
    await pendingBare(warmup, gc, server, TOKEN);
    const gate = await heldByGate(n, gc);
    const bare = await pendingBare(bareN, gc, server, TOKEN);
    return { gate, bare, bareN };
  } finally {
    await server.close();
  }
}

// ---- (c) heap per idle gate of a group -----------------------------------------------------------

/** A server's session store for one user: a class, so that a key's store is one small object. */
class SessionStore {
  readonly #sessions: Map<string, Tokens | null>;
  readonly #key: string;
  constructor(sessions: Map<string, Tokens | null>, key: string) {
    this.#sessions = sessions;
    this.#key = key;
  }
  get(): Tokens | null {
    return this.#sessions.get(this.#key) ?? null;
  }
  set(tokens: Tokens | null): void {
    this.#sessions.set(this.#key, tokens);
  }
  clear(): void {
    this.#sessions.set(this.#key, null);
  }
}

/** Long enough for the group's sweep to park a gate unused for 10 s (it runs every 5 s). */
const PARKED_AFTER_MS = 16_000;

async function idleGates(n: number, gc: () => void) {
  const sessions = new Map<string, Tokens | null>();
  const group = createRefreshGateGroup({
    key: () => undefined,
    store: (key) => new SessionStore(sessions, key),
    refresh: async () => TOKEN,
    logger: quiet,
    maxGates: n,
  });
  group.attach(axios.create({ baseURL: 'https://api.test' }));
  for (let i = 0; i < n; i++)
    sessions.set(`user-${i}`, { accessToken: `a${i}`, refreshToken: `r${i}` });
  const heap = () => {
    for (let i = 0; i < 3; i++) gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  // Each gate read once, as a first request for its user would: a gate in use, idle now.
  for (let i = 0; i < n; i++) await group.forKey(`user-${i}`).getAccessToken();
  const used = (heap() - before) / n;
  // Then nobody's: the sweep parks each gate, down to its key, store and counters.
  await sleep(PARKED_AFTER_MS);
  const parked = (heap() - before) / n;
  if (group.size !== n) throw new Error(`${n - group.size} gates left the group`);
  // A parked gate is used again: it gets a machine and its user's token.
  const token = await group.forKey('user-0').getAccessToken();
  if (token !== 'a0') throw new Error(`a parked gate came back with ${String(token)}`);
  for (let i = 0; i < n; i++) group.delete(`user-${i}`);
  const left = (heap() - before) / n;
  group.destroy();
  return { used, parked, left };
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') reExecWithGc(__filename);

  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      n: { type: 'string' },
      rounds: { type: 'string' },
      batch: { type: 'string' },
    },
  });
  const smoke = values.smoke === true;
  const n = positiveInteger('n', values.n, smoke ? 200 : 10_000);
  const rounds = positiveInteger('rounds', values.rounds, smoke ? 1 : 41);
  const batch = positiveInteger('batch', values.batch, smoke ? 200 : 1_000);
  const warmup = smoke ? 50 : 2_000;

  const started = Date.now();
  const hot = await hotPath(rounds, batch, warmup);
  const heapStarted = Date.now();
  const heap = await heapPerRequest(n, smoke ? 20 : 500, () => gc());
  const gates = await idleGates(smoke ? 200 : 5_000, () => gc());

  const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB/request`;
  const row = (label: string, value: string) => `    ${label.padEnd(44)} ${value}`;
  const timing = (time: { cpu: number; wall: number }) =>
    `${time.cpu.toFixed(2).padStart(6)}       ${time.wall.toFixed(2).padStart(6)}`;
  const lines = [
    `axios-refresh-gate quick bench, node ${process.version}${smoke ? ' (--smoke: too small to mean much)' : ''}`,
    '',
    `(a) hot path: sequential GETs via axios-mock-adapter, median of ${rounds} interleaved round(s) x ${batch}`,
    row('', 'CPU µs/req   wall µs/req'),
    row('bare axios, static Authorization header', timing(hot.bare)),
    row('attachRefreshGate, valid non-expiring token', timing(hot.gate)),
    row(
      'gate/bare, median of per-round ratios',
      `${hot.ratio.cpu.toFixed(3).padStart(6)}        ${hot.ratio.wall.toFixed(3).padStart(6)}   (target <= 1.05)`,
    ),
    '',
    '(b) heap per waiting request (heapUsed delta after gc / N)',
    row(`held behind an open refresh (N=${n})`, kb(heap.gate)),
    row(`bare axios, pending on loopback (N=${heap.bareN})`, kb(heap.bare)),
    row('ratio held/bare', (heap.gate / heap.bare).toFixed(3)),
    '',
    '(c) heap per gate of a group (heapUsed delta after gc / gates)',
    row(
      `used a moment ago, idle (${smoke ? 200 : 5_000})`,
      `${(gates.used / 1024).toFixed(2)} KB/gate`,
    ),
    row(
      `idle: parked after 10 s unused (${smoke ? 200 : 5_000})`,
      `${(gates.parked / 1024).toFixed(2)} KB/gate   (goal <= 1 KB)`,
    ),
    row('after group.delete() of each', `${(gates.left / 1024).toFixed(2)} KB/gate`),
    '',
    `done in ${((Date.now() - started) / 1000).toFixed(1)} s (hot path ${((heapStarted - started) / 1000).toFixed(1)} s)`,
  ];
  console.log(lines.join('\n'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
