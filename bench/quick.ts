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
 *
 * It prints figures and asserts nothing about time; it exits non-zero only when something throws.
 * It needs `--expose-gc` (the npm script passes it; run directly, it re-executes itself with it).
 */
import { fork, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import axios, { type AxiosInstance } from 'axios';
import MockAdapter from 'axios-mock-adapter';
import { attachRefreshGate, type GateLogger, type Tokens } from '../src/index.js';

const TOKEN = 'static-access-token-0123456789';
const quiet: GateLogger = { debug: () => {}, warn: () => {} };

// ---- small helpers ------------------------------------------------------------------------------

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` until it holds; throws after `timeoutMs` saying what did not happen. */
async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]!
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function heapAfterGc(gc: () => void): Promise<number> {
  // Several turns so that settled promises and closures are really unreachable, then full GCs.
  for (let i = 0; i < 3; i++) {
    await turn();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Answers every GET with the Authorization header it carried, so both sides do the same work. */
function mocked(instance: AxiosInstance): AxiosInstance {
  // An object body: a string would make axios try JSON.parse and throw on every response, a cost
  // that would swamp what is measured here.
  new MockAdapter(instance)
    .onGet('/x')
    .reply((config) => [200, { auth: config.headers?.Authorization }]);
  return instance;
}

// ---- (a) hot path -------------------------------------------------------------------------------

interface Timing {
  /** Wall-clock µs per request. */
  wall: number;
  /** Process CPU µs (user + system) per request: steadier than wall time on a shared machine. */
  cpu: number;
}

async function timeRequests(api: AxiosInstance, count: number): Promise<Timing> {
  const wallStart = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < count; i++) await api.get('/x');
  const cpu = process.cpuUsage(cpuStart);
  return {
    wall: Number(process.hrtime.bigint() - wallStart) / 1000 / count,
    cpu: (cpu.user + cpu.system) / count,
  };
}

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
  // The manual refresh() call waits too.
  await until(`${n} requests held by the gate`, () => gate.state.waiting === n + 1);
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

interface HoldServer {
  port: number;
  ask(message: 'count' | 'release'): Promise<number>;
  close(): Promise<void>;
}

type Reply = { type: string; count?: number; port?: number };

async function startHoldServer(): Promise<HoldServer> {
  const child = fork(join(__dirname, 'hold-server.mjs'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // The server answers each message in order, so replies are matched first in, first out.
  const waiting: Array<{ resolve(reply: Reply): void; reject(error: Error): void }> = [];
  child.on('message', (message) => waiting.shift()?.resolve(message as Reply));
  child.on('exit', (code) => {
    for (const waiter of waiting.splice(0))
      waiter.reject(new Error(`hold server exited (${code})`));
  });
  const next = () => new Promise<Reply>((resolve, reject) => waiting.push({ resolve, reject }));
  const listening = await next();
  if (listening.port === undefined) throw new Error('hold server did not say its port');
  return {
    port: listening.port,
    async ask(message) {
      const reply = next();
      child.send(message);
      return (await reply).count ?? 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.send('close');
      }),
  };
}

async function pendingBare(n: number, gc: () => void, server: HoldServer): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const api = axios.create({
    baseURL: `http://127.0.0.1:${server.port}`,
    httpAgent: agent,
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  const already = await server.ask('count');

  const requests = new Array<Promise<unknown>>(n);
  const before = await heapAfterGc(gc);
  // In waves of 500, so that the server's listen backlog never overflows (a dropped SYN costs a
  // retransmit of a second or more) on hosts with a small somaxconn.
  for (let sent = 0; sent < n; ) {
    const wave = Math.min(n, sent + 500);
    for (; sent < wave; sent++) requests[sent] = api.get('/x');
    await until(
      `${sent} requests pending on the loopback server`,
      async () => (await server.ask('count')) >= already + sent,
    );
  }
  const after = await heapAfterGc(gc);

  await server.ask('release');
  await Promise.all(requests);
  agent.destroy();
  return (after - before) / n;
}

/** Linux: the soft limit on open descriptors; each pending bare request holds one socket. */
function openFileLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

async function heapPerRequest(n: number, warmup: number, gc: () => void) {
  // Leave room for everything else the process has open.
  const bareN = Math.min(n, openFileLimit() - 256);
  if (bareN < 1) throw new Error('too few file descriptors for the bare comparison');
  const server = await startHoldServer();
  try {
    // Warm-up: lazily built module state (axios' adapters, the agent, the gate) is not per request.
    await heldByGate(warmup, gc);
    await pendingBare(warmup, gc, server);
    const gate = await heldByGate(n, gc);
    const bare = await pendingBare(bareN, gc, server);
    return { gate, bare, bareN };
  } finally {
    await server.close();
  }
}

// ---- main ---------------------------------------------------------------------------------------

function reExecWithGc(): never {
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', __filename, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(result.status ?? 1);
}

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be an integer >= 1`);
  return parsed;
}

async function main(): Promise<void> {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') reExecWithGc();

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
    `done in ${((Date.now() - started) / 1000).toFixed(1)} s (hot path ${((heapStarted - started) / 1000).toFixed(1)} s)`,
  ];
  console.log(lines.join('\n'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
