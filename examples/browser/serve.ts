/**
 * Builds the several-tabs example page and serves it, for the browser tests and by hand:
 *
 *   tsx examples/browser/serve.ts [--port 5173] [--api-port 4000]
 *
 * starts the example auth server and the page, and prints the URL to open in several tabs.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { startAuthServer } from '../server/auth-server.js';

const here = __dirname;

/**
 * Bundles app.ts (axios, the core and the browser entry, from source) into `outDir/app.js` as an
 * ES module for browsers, and copies index.html next to it.
 */
export async function buildTestPage(outDir: string): Promise<void> {
  await build({
    entryPoints: [join(here, 'app.ts')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'inline',
    logLevel: 'warning',
    // `import './augment.js'` only carries types; its JS is empty.
    logOverride: { 'ignored-bare-import': 'silent' },
  });
  await copyFile(join(here, 'index.html'), join(outDir, 'index.html'));
}

export interface PageServer {
  /** The origin, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/** Serves the files of `dir` (flat: index.html, app.js) on 127.0.0.1; one origin for every tab. */
export async function servePage(dir: string, port = 0): Promise<PageServer> {
  const root = resolve(dir);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = path === '/' ? 'index.html' : path.slice(1);
    const type = TYPES[extname(file)];
    if (req.method !== 'GET' || file.includes('/') || file.includes('..') || !type) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(root, file)).then(
      (body) => {
        res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(body);
      },
      () => {
        res.writeHead(404).end();
      },
    );
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((ready, fail) => {
    server.once('error', fail);
    server.listen({ host: '127.0.0.1', port }, () => {
      server.off('error', fail);
      ready();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      closing ??= new Promise<void>((done, fail) => {
        server.close((error) => (error ? fail(error) : done()));
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '5173' },
      'api-port': { type: 'string', default: '4000' },
    },
  });
  const dir = await mkdtemp(join(tmpdir(), 'axios-refresh-gate-page-'));
  await buildTestPage(dir);
  const auth = await startAuthServer({ port: Number(values['api-port']) });
  const page = await servePage(dir, Number(values.port));
  console.log(`Auth server on ${auth.url}`);
  console.log(`Open ${page.url}/?api=${encodeURIComponent(auth.url)} in several tabs.`);
  const stop = async () => {
    await Promise.all([page.close(), auth.close()]);
    await rm(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
