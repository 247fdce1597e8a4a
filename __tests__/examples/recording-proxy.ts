/**
 * A loopback HTTP proxy in front of the example auth server, for the browser suites. It records
 * every request the page sends (method, path, the bearer token it carried) and every token pair
 * the server issued, and can park `POST /auth/refresh` requests until the test releases them, so
 * a test decides exactly when a refresh is in flight instead of racing a latency.
 */
import { Agent, createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxiedRequest {
  seq: number;
  method: string;
  path: string;
  /** The bearer token sent, or null. */
  token: string | null;
  /** Answered by the server (a parked request has none until released). */
  status?: number;
}

export interface IssuedTokens {
  /** `seq` of the login or refresh request that obtained them. */
  seq: number;
  path: string;
  accessToken: string;
}

export interface RecordingProxy {
  readonly url: string;
  readonly requests: ProxiedRequest[];
  readonly issued: IssuedTokens[];
  /** From now on, refresh requests wait until {@link release}. */
  holdRefreshes(): void;
  /** Resolves once `count` refresh requests are parked. */
  parked(count: number): Promise<void>;
  /** Forwards the parked refreshes (and stops holding); resolves when the server answered them. */
  release(): Promise<void>;
  /** Forgets the records (not the parked requests). */
  reset(): void;
  close(): Promise<void>;
}

interface Parked {
  forward(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const { hostname, port } = new URL(target);
  // No keep-alive upstream: nothing to leak past close().
  const agent = new Agent({ keepAlive: false });
  const requests: ProxiedRequest[] = [];
  const issued: IssuedTokens[] = [];
  let seq = 0;
  let holding = false;
  let parkedRequests: Parked[] = [];
  let parkedWaiters: Array<{ count: number; resolve(): void }> = [];
  const sockets = new Set<Socket>();

  const readBody = async (stream: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  };

  const server = createServer(async (req, res) => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const auth = req.headers.authorization;
    const entry: ProxiedRequest = {
      seq: ++seq,
      method,
      path,
      token: auth?.startsWith('Bearer ') ? auth.slice(7) : null,
    };
    if (method !== 'OPTIONS') requests.push(entry);
    const body = await readBody(req);

    const forward = () =>
      new Promise<void>((resolve) => {
        const upstream = request(
          { agent, hostname, port, method, path: req.url, headers: req.headers },
          async (answer) => {
            const payload = await readBody(answer);
            entry.status = answer.statusCode ?? 0;
            if ((path === '/auth/login' || path === '/auth/refresh') && entry.status === 200) {
              const { accessToken } = JSON.parse(payload.toString('utf8')) as {
                accessToken: string;
              };
              issued.push({ seq: entry.seq, path, accessToken });
            }
            // The page may have gone (an aborted refresh); the server's answer is recorded anyway.
            if (!res.destroyed) {
              res.writeHead(entry.status, answer.headers);
              res.end(payload);
            }
            resolve();
          },
        );
        upstream.on('error', () => {
          if (!res.destroyed) res.destroy();
          resolve();
        });
        upstream.end(body);
      });

    if (holding && method === 'POST' && path === '/auth/refresh') {
      parkedRequests.push({ forward });
      const ready = parkedWaiters.filter((w) => parkedRequests.length >= w.count);
      parkedWaiters = parkedWaiters.filter((w) => parkedRequests.length < w.count);
      for (const waiter of ready) waiter.resolve();
      return;
    }
    await forward();
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: ownPort } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${ownPort}`,
    requests,
    issued,
    holdRefreshes() {
      holding = true;
    },
    parked(count) {
      if (parkedRequests.length >= count) return Promise.resolve();
      return new Promise((resolve) => parkedWaiters.push({ count, resolve }));
    },
    async release() {
      holding = false;
      const released = parkedRequests;
      parkedRequests = [];
      await Promise.all(released.map((parked) => parked.forward()));
    },
    reset() {
      requests.length = 0;
      issued.length = 0;
    },
    async close() {
      holding = false;
      parkedRequests = [];
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await closed;
    },
  };
}
