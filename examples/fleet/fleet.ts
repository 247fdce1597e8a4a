/**
 * Starts fleet workers ({@link ./worker.ts}) as child Node processes and talks to them over IPC.
 * Used by the multi-process tests; also a sketch of what a PM2 cluster or a set of pods does.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { WorkerConfig, WorkerMessage, WorkerReport } from './worker.js';

export interface FleetWorker {
  readonly name: string;
  readonly child: ChildProcess;
  /** Every message received so far, oldest first. */
  readonly messages: WorkerMessage[];
  /** Resolves with the first message of `type` received (now or later); rejects if the worker exits first. */
  next<T extends WorkerMessage['type']>(type: T): Promise<Extract<WorkerMessage, { type: T }>>;
  /** Fires the worker's concurrent requests; resolves with its report. */
  run(): Promise<WorkerReport>;
  /** Asks the worker to clean up and exit; resolves once it exited (SIGKILL after 5 s). */
  stop(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Sends `signal` without waiting for an exit (SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void;
}

const workers = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of workers) child.kill('SIGKILL');
});

const WORKER = join(__dirname, 'worker.ts');

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startWorker(config: WorkerConfig): Promise<FleetWorker> {
  const child = fork(WORKER, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, FLEET_WORKER: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  workers.add(child);
  child.once('exit', () => workers.delete(child));
  const messages: WorkerMessage[] = [];
  const waiting = new Set<() => void>();
  child.on('message', (message: WorkerMessage) => {
    messages.push(message);
    for (const check of [...waiting]) check();
  });
  child.once('exit', () => {
    for (const check of [...waiting]) check();
  });

  const next = <T extends WorkerMessage['type']>(type: T) =>
    new Promise<Extract<WorkerMessage, { type: T }>>((resolve, reject) => {
      const check = () => {
        const found = messages.find((message) => message.type === type);
        if (found) {
          waiting.delete(check);
          resolve(found as Extract<WorkerMessage, { type: T }>);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          waiting.delete(check);
          reject(new Error(`worker ${config.name} exited before sending '${type}'`));
        }
      };
      waiting.add(check);
      check();
    });

  await next('ready');
  return {
    name: config.name,
    child,
    messages,
    next,
    async run() {
      child.send({ type: 'go' });
      return (await next('done')).report;
    },
    async stop() {
      if (child.connected) child.send({ type: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited(child);
      clearTimeout(timer);
    },
    async kill(signal) {
      child.kill(signal);
      await exited(child);
    },
    signal(signal) {
      child.kill(signal);
    },
  };
}
