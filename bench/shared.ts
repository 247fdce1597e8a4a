/**
 * Pieces the benches share: promise helpers, medians, heap after gc, the hold server (a loopback
 * server that answers nothing until told to) and the re-exec with `--expose-gc`.
 */
import { fork, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import axios, { type AxiosInstance } from 'axios';
import MockAdapter from 'axios-mock-adapter';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

export const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` until it holds; throws after `timeoutMs` saying what did not happen. */
export async function until(
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

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]!
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** First and third quartile (medians of the lower and upper halves). */
export function quartiles(values: readonly number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const half = sorted.length >> 1;
  return [median(sorted.slice(0, half || 1)), median(sorted.slice(sorted.length - (half || 1)))];
}

export async function heapAfterGc(gc: () => void): Promise<number> {
  // Several turns so that settled promises and closures are really unreachable, then full GCs.
  for (let i = 0; i < 3; i++) {
    await turn();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Answers every GET with the Authorization header it carried, so both sides do the same work. */
export function mocked(instance: AxiosInstance): AxiosInstance {
  // An object body: a string would make axios try JSON.parse and throw on every response, a cost
  // that would swamp what is measured here.
  new MockAdapter(instance)
    .onGet('/x')
    .reply((config) => [200, { auth: config.headers?.Authorization }]);
  return instance;
}

export interface Timing {
  /** Wall-clock µs per request. */
  wall: number;
  /** Process CPU µs (user + system) per request: steadier than wall time on a shared machine. */
  cpu: number;
}

export async function timeRequests(api: AxiosInstance, count: number): Promise<Timing> {
  const wallStart = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < count; i++) await api.get('/x');
  const cpu = process.cpuUsage(cpuStart);
  return {
    wall: Number(process.hrtime.bigint() - wallStart) / 1000 / count,
    cpu: (cpu.user + cpu.system) / count,
  };
}

export interface HoldServer {
  port: number;
  ask(message: 'count' | 'release'): Promise<number>;
  close(): Promise<void>;
}

type Reply = { type: string; count?: number; port?: number };

/** Forks `hold-server.mjs`: a loopback HTTP server that holds every request until 'release'. */
export async function startHoldServer(): Promise<HoldServer> {
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

/**
 * Heap per bare axios request pending on the hold server, each on its own socket (an unbounded
 * keep-alive agent): N requests need N descriptors.
 */
export async function pendingBare(
  n: number,
  gc: () => void,
  server: HoldServer,
  token: string,
): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const api = axios.create({
    baseURL: `http://127.0.0.1:${server.port}`,
    httpAgent: agent,
    headers: { Authorization: `Bearer ${token}` },
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
export function openFileLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Runs `file` again in a child node with `--expose-gc` (and tsx), then exits with its status. */
export function reExecWithGc(file: string): never {
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', file, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(result.status ?? 1);
}

export function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be an integer >= 1`);
  return parsed;
}

/**
 * What Node's HTTP agent pays to take the next waiting request off its queue (an array, taken
 * with `shift()`) while `n` requests wait: µs per shift, the median of a few tries.
 */
export function agentQueueShiftUs(n: number, ops = 2_000): number {
  const tries: number[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const queue: object[] = [];
    for (let i = 0; i < n; i++) queue.push({ i });
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) queue.push(queue.shift()!);
    tries.push(Number(process.hrtime.bigint() - start) / 1000 / ops);
  }
  return median(tries);
}
