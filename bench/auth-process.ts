/** The parent side of bench/auth-server-child.ts: the real auth server, one process away. */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { AuthServerKnobs, AuthServerStats } from '../examples/server/auth-server.js';

export type ServerStats = Omit<AuthServerStats, 'refreshLog'>;

export interface AuthProcess {
  readonly url: string;
  stats(): Promise<ServerStats>;
  /** Zeroes the counters; resolves with the counters as they were just after. */
  reset(): Promise<ServerStats>;
  knobs(knobs: Partial<AuthServerKnobs>): Promise<void>;
  close(): Promise<void>;
}

interface Reply {
  id: number;
  url?: string;
  stats?: ServerStats;
}

export async function startAuthProcess(knobs: Partial<AuthServerKnobs> = {}): Promise<AuthProcess> {
  const child = fork(join(__dirname, 'auth-server-child.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve(reply: Reply): void; reject(error: Error): void }>();
  let nextId = 1;
  child.on('message', (message: Reply) => {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    waiter?.resolve(message);
  });
  child.on('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`auth server exited (${code})`));
    pending.clear();
  });
  const expect = (id: number) =>
    new Promise<Reply>((resolve, reject) => pending.set(id, { resolve, reject }));
  const ask = async (message: object): Promise<Reply> => {
    const id = nextId++;
    const reply = expect(id);
    child.send({ id, ...message });
    return reply;
  };

  const started = await expect(0);
  if (started.url === undefined) throw new Error('auth server did not say its url');
  if (Object.keys(knobs).length > 0) await ask({ op: 'knobs', knobs });
  return {
    url: started.url,
    stats: async () => (await ask({ op: 'stats' })).stats!,
    reset: async () => (await ask({ op: 'reset' })).stats!,
    knobs: async (changes) => {
      await ask({ op: 'knobs', knobs: changes });
    },
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await ask({ op: 'close' });
      await exited;
    },
  };
}
