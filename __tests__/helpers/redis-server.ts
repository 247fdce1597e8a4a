/**
 * Starts a real `redis-server` (the Debian package; `npm run test:redis` installs it through
 * scripts/ensure-system-deps.sh) on a free loopback port, without persistence unless asked, and
 * stops it.
 *
 * @example
 * ```ts
 * let redis: RedisServer;
 * beforeAll(async () => { redis = await startRedisServer(); });
 * afterAll(() => redis?.close());
 * const client = new Redis(redis.port, '127.0.0.1');
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The running process (undefined once stopped). */
  readonly process: ChildProcess | undefined;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s); resolves once it exited. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after `stop()`), e.g. to check reconnection. */
  restart(): Promise<void>;
  /** Stops it and removes its data directory: for afterAll. Idempotent. */
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();
// A test run that dies half-way must not leave redis-server processes behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends PING over a raw socket; resolves true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}

function launch(
  port: number,
  dir: string,
  persistence: boolean,
): { child: ChildProcess; output: () => string } {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      persistence ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--dir',
      dir,
      '--protected-mode',
      'yes',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return { child, output: () => log };
}

async function waitUntilUp(child: ChildProcess, port: number, output: () => string) {
  let exited = false;
  let spawnError: Error | undefined;
  child.once('exit', () => {
    exited = true;
  });
  child.once('error', (error) => {
    spawnError = error;
  });
  for (let i = 0; i < 200; i++) {
    if (spawnError) {
      throw new Error(
        `could not start redis-server (${spawnError.message}); run scripts/ensure-system-deps.sh redis-server:redis-server`,
      );
    }
    if (exited) throw new Error(`redis-server exited at start-up:\n${output()}`);
    if (await ping(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer PING on port ${port} within 5 s:\n${output()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface RedisServerOptions {
  /**
   * Keep the data across a restart, as a production Redis does (append-only file, fsync on every
   * write). @default false: a restart loses every key.
   */
  readonly persistence?: boolean;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'refresh-gate-redis-'));
  let port = 0;
  let current: ChildProcess | undefined;

  const start = async (attempts: number): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      port = port || (await freePort());
      const { child, output } = launch(port, dir, options.persistence === true);
      try {
        await waitUntilUp(child, port, output);
        current = child;
        return;
      } catch (error) {
        await stopChild(child);
        // Another process took the port between freePort() and the launch: try another one.
        if (attempt >= attempts || !output().includes('Address already in use')) throw error;
        port = 0;
      }
    }
  };
  await start(3);

  const stop = async () => {
    const child = current;
    current = undefined;
    if (child) await stopChild(child);
  };

  return {
    get port() {
      return port;
    },
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get process() {
      return current;
    },
    stop,
    async restart() {
      if (current) throw new Error('redis-server is running');
      await start(1);
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Closes an ioredis client for good: QUIT when connected (Redis closes at once), else disconnect. */
export async function closeClient(client: {
  status: string;
  quit(): Promise<unknown>;
  disconnect(): void;
}): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // Fall through: the connection is gone anyway.
    }
  }
  client.disconnect();
}
