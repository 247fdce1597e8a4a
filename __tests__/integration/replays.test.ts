/**
 * Rule 20 on real sockets: a request refused for its token is replayed with the new one, body and
 * all, or refused with NOT_REPLAYABLE when its body was a stream the first attempt consumed.
 *
 * The server answers 401 to any token but the new one and, to the new one, 200 with an echo of the
 * body it received; it records every request's token and body. The requests go through the real
 * Node http adapter; no mock adapter here.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import axios, {
  type AxiosInstance,
  type AxiosRequestTransformer,
  type AxiosResponse,
  type CreateAxiosDefaults,
  isAxiosError,
} from 'axios';
import NpmFormData from 'form-data';
import {
  createRefreshGate,
  isRefreshGateError,
  type RefreshGate,
  RefreshGateError,
} from '../../src/index.js';
import { type Deferred, deferred } from '../helpers/deferred.js';

jest.setTimeout(15_000);

const OLD = 'old-access-0123';
const NEW = 'new-access-4567';

/** One request the server received. */
interface Hit {
  method: string;
  path: string;
  auth: string | undefined;
  contentType: string | undefined;
  /** The Content-Length header, as sent. */
  length: string | undefined;
  body: Buffer;
}

interface EchoServer {
  readonly origin: string;
  readonly hits: Hit[];
  /** Answers to `path` wait for this, after the body has been read. */
  readonly holds: Map<string, Promise<void>>;
  /** The requests made to `path`. */
  to(path: string): Hit[];
  close(): Promise<void>;
}

async function startEchoServer(): Promise<EchoServer> {
  const hits: Hit[] = [];
  const holds = new Map<string, Promise<void>>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const hit: Hit = {
        method: req.method ?? '',
        path: req.url ?? '',
        auth: req.headers.authorization,
        contentType: req.headers['content-type'],
        length: req.headers['content-length'],
        body: Buffer.concat(chunks),
      };
      hits.push(hit);
      await holds.get(hit.path);
      const ok = hit.auth === `Bearer ${NEW}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          auth: hit.auth,
          contentType: hit.contentType,
          body: hit.body.toString('base64'),
        }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    hits,
    holds,
    to: (path) => hits.filter((hit) => hit.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let server: EchoServer;
const gates: RefreshGate[] = [];
const releases: Array<Deferred<void>> = [];

beforeEach(async () => {
  server = await startEchoServer();
});

afterEach(async () => {
  for (const release of releases.splice(0)) release.resolve();
  for (const gate of gates.splice(0)) gate.destroy();
  await server?.close();
});

/** A gate holding the old token on an instance of the server; its refresh yields the new one. */
function setup(
  refreshed: Promise<unknown> = Promise.resolve(),
  defaults: CreateAxiosDefaults = {},
) {
  const api: AxiosInstance = axios.create({ baseURL: server.origin, adapter: 'http', ...defaults });
  const refresh = jest.fn(async () => {
    await refreshed;
    return { accessToken: NEW, refreshToken: 'refresh-2' };
  });
  const gate = createRefreshGate({
    refresh,
    initialTokens: { accessToken: OLD, refreshToken: 'refresh-1' },
    logger: { debug: jest.fn(), warn: jest.fn() },
  });
  gates.push(gate);
  gate.attach(api);
  return { api, gate, refresh };
}

/** Rejects when `promise` has not settled within `ms`: a refusal must never be a hang. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The rejection of `promise`, failing the test if it fulfils. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the request to reject, but it fulfilled');
}

/** A multipart body with its boundary (chosen anew for every send) replaced by a fixed one. */
function normalized(hit: Hit): { contentType: string | undefined; body: string } {
  const boundary = /boundary=("?)([^";]+)\1/i.exec(hit.contentType ?? '')?.[2];
  const body = hit.body.toString('latin1');
  if (!boundary) return { contentType: hit.contentType, body };
  return {
    contentType: hit.contentType?.split(boundary).join('BOUNDARY'),
    body: body.split(boundary).join('BOUNDARY'),
  };
}

describe('a replayable body is sent again as it was', () => {
  const bytes = Buffer.from([0, 1, 2, 127, 128, 254, 255, 13, 10]);

  const bodies: Array<[string, () => unknown, (hit: Hit) => void]> = [
    [
      'a string',
      () => 'plain text body ✓',
      (hit) => expect(hit.body.toString('utf8')).toBe('plain text body ✓'),
    ],
    ['a Buffer', () => Buffer.from(bytes), (hit) => expect(hit.body.equals(bytes)).toBe(true)],
    [
      'a Uint8Array',
      () => new Uint8Array(bytes),
      (hit) => expect(hit.body.equals(bytes)).toBe(true),
    ],
    [
      'URLSearchParams',
      () => new URLSearchParams({ a: '1', b: 'two words', c: 'ü&=' }),
      (hit) => {
        expect(hit.body.toString()).toBe('a=1&b=two+words&c=%C3%BC%26%3D');
        expect(hit.contentType).toMatch(/^application\/x-www-form-urlencoded/);
      },
    ],
    [
      'a Blob',
      () => new Blob(['blob ', 'body ', new Uint8Array([0, 255])], { type: 'text/plain' }),
      (hit) =>
        expect(
          hit.body.equals(Buffer.concat([Buffer.from('blob body '), Buffer.from([0, 255])])),
        ).toBe(true),
    ],
    [
      'a spec FormData',
      () => {
        const form = new FormData();
        form.append('name', 'value');
        form.append('file', new Blob(['file content'], { type: 'text/plain' }), 'a.txt');
        return form;
      },
      (hit) => {
        expect(hit.contentType).toMatch(/^multipart\/form-data; boundary=/);
        const text = hit.body.toString();
        expect(text).toContain('name="name"');
        expect(text).toContain('value');
        expect(text).toContain('filename="a.txt"');
        expect(text).toContain('file content');
      },
    ],
    [
      'a plain object',
      () => ({ a: 1, nested: { b: [1, 'two', null], c: 'ü' } }),
      (hit) => {
        expect(JSON.parse(hit.body.toString())).toEqual({
          a: 1,
          nested: { b: [1, 'two', null], c: 'ü' },
        });
        expect(hit.contentType).toMatch(/^application\/json/);
      },
    ],
  ];

  it.each(bodies)(
    '%s: the replay carries the new token and the same body',
    async (_, make, check) => {
      const { api, gate, refresh } = setup();
      const response = await api.post<{ body: string }>('/echo', make());

      expect(response.status).toBe(200);
      expect(refresh).toHaveBeenCalledTimes(1);
      const [first, replay, ...more] = server.to('/echo');
      expect(more).toEqual([]);
      expect(first!.auth).toBe(`Bearer ${OLD}`);
      expect(replay!.auth).toBe(`Bearer ${NEW}`);
      check(first!);
      check(replay!);
      expect(normalized(replay!)).toEqual(normalized(first!));
      // The caller sees the replay's answer: the server's echo of the body it got the second time.
      expect(Buffer.from(response.data.body, 'base64').equals(replay!.body)).toBe(true);
      expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1 });
    },
  );
});

describe("a replay sends the caller's body, not the one transformRequest made of it", () => {
  /** A request's outcome, without failing the test on a rejection. */
  const settled = <T>(promise: Promise<AxiosResponse<T>>) =>
    promise.then(
      (response) => ({ ok: true as const, response }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  /** The body the server echoed to the caller, as text. */
  const echoed = (outcome: Awaited<ReturnType<typeof settled<{ body: string }>>>) =>
    outcome.ok ? Buffer.from(outcome.response.data.body, 'base64').toString('utf8') : undefined;

  /** Every request to `path`: its token, its body as text, and the Content-Length it came with. */
  const bodiesTo = (path: string) =>
    server.to(path).map((hit) => ({
      auth: hit.auth,
      body: hit.body.toString('utf8'),
      length: hit.length,
    }));
  /** What a request with `body` should arrive as: the body, with its own length. */
  const sentAs = (auth: string, body: string) => ({
    auth,
    body,
    length: String(Buffer.byteLength(body)),
  });

  it("a transformRequest of the instance's own (JSON.stringify): the replay's body is the caller's JSON, with its length", async () => {
    const { api, refresh } = setup(undefined, {
      transformRequest: [(data) => JSON.stringify(data)],
      headers: { 'Content-Type': 'application/json' },
    });
    const outcome = await within(2_000, settled(api.post<{ body: string }>('/echo', { a: 1 })));

    // At the server first: a body transformed twice, under the first attempt's Content-Length,
    // shows up here (its excess bytes then read as another request, which Node answers 400).
    expect(bodiesTo('/echo')).toEqual([
      sentAs(`Bearer ${OLD}`, '{"a":1}'),
      sentAs(`Bearer ${NEW}`, '{"a":1}'),
    ]);
    expect(refresh).toHaveBeenCalledTimes(1);
    // The caller gets the replay's answer: the echo of exactly that body.
    expect(outcome.ok && outcome.response.status).toBe(200);
    expect(echoed(outcome)).toBe('{"a":1}');
  });

  it("a signing transform appended to axios' defaults is applied once on the replay", async () => {
    const sign: AxiosRequestTransformer = (data) => `v1:${data}`;
    const { api, refresh } = setup(undefined, {
      transformRequest: [...(axios.defaults.transformRequest as AxiosRequestTransformer[]), sign],
    });
    const outcome = await within(
      2_000,
      settled(
        api.post<{ body: string }>(
          '/signed',
          { a: 1 },
          { headers: { 'Content-Type': 'text/plain' } },
        ),
      ),
    );

    expect(bodiesTo('/signed')).toEqual([
      sentAs(`Bearer ${OLD}`, 'v1:{"a":1}'),
      sentAs(`Bearer ${NEW}`, 'v1:{"a":1}'),
    ]);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(outcome.ok && outcome.response.status).toBe(200);
    expect(echoed(outcome)).toBe('v1:{"a":1}');
  });

  it("postForm() with a plain object (axios makes an npm 'form-data' stream of it in Node) is replayed, not NOT_REPLAYABLE", async () => {
    const { api, gate, refresh } = setup();
    const outcome = await within(
      2_000,
      settled(api.postForm<{ body: string }>('/form', { a: '1' })),
    );

    expect(outcome.ok ? undefined : outcome.error).toBeUndefined();
    expect(outcome.ok && outcome.response.status).toBe(200);
    expect(refresh).toHaveBeenCalledTimes(1);
    const [first, replay, ...more] = server.to('/form');
    expect(more).toEqual([]);
    expect(first!.auth).toBe(`Bearer ${OLD}`);
    expect(replay!.auth).toBe(`Bearer ${NEW}`);
    for (const hit of [first!, replay!]) {
      expect(hit.contentType).toMatch(/^multipart\/form-data; boundary=/);
      const text = hit.body.toString('utf8');
      expect(text).toContain('name="a"');
      expect(text).toMatch(/name="a"\r\n\r\n1\r\n/);
    }
    expect(normalized(replay!)).toEqual(normalized(first!));
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
  });
});

describe('a consumed stream is refused with NOT_REPLAYABLE, at once', () => {
  const streams: Array<[string, () => unknown, string]> = [
    [
      'a Node Readable',
      () => Readable.from([Buffer.from('stream '), Buffer.from('body')]),
      'stream body',
    ],
    [
      "an npm 'form-data'",
      () => {
        const form = new NpmFormData();
        form.append('field', 'form-data value');
        return form;
      },
      'form-data value',
    ],
  ];

  it.each(streams)(
    '%s: its 401 starts the refresh and rejects the caller',
    async (_, make, marker) => {
      const { api, gate, refresh } = setup();
      const started = Date.now();
      const error = await within(2_000, rejectionOf(api.post('/upload', make())));
      expect(Date.now() - started).toBeLessThan(2_000);

      expect(error).toBeInstanceOf(RefreshGateError);
      expect(isRefreshGateError(error) && error.code).toBe('NOT_REPLAYABLE');
      const cause = (error as RefreshGateError).cause;
      expect(isAxiosError(cause)).toBe(true);
      expect(isAxiosError(cause) && cause.response?.status).toBe(401);
      expect(isAxiosError(cause) && cause.config?.url).toBe('/upload');

      // Sent once, body and all; never again with the ended stream.
      const sent = server.to('/upload');
      expect(sent).toHaveLength(1);
      expect(sent[0]!.auth).toBe(`Bearer ${OLD}`);
      expect(sent[0]!.body.toString()).toContain(marker);

      // The refresh ran (once), so a new attempt with a new body gets the new token.
      const retry = await within(2_000, api.post('/upload', make()));
      expect(retry.status).toBe(200);
      const [, again, ...more] = server.to('/upload');
      expect(more).toEqual([]);
      expect(again!.auth).toBe(`Bearer ${NEW}`);
      expect(again!.body.toString()).toContain(marker);
      expect(normalized(again!)).toEqual(normalized(sent[0]!));
      expect(refresh).toHaveBeenCalledTimes(1);
      expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
    },
  );

  it.each(streams)(
    '%s: its 401 while the refresh runs rejects before the refresh ends',
    async (_, make) => {
      const refreshed = deferred<void>();
      releases.push(refreshed);
      const answer = deferred<void>();
      releases.push(answer);
      server.holds.set('/upload', answer.promise);
      const { api, gate, refresh } = setup(refreshed.promise);

      const upload = rejectionOf(api.post('/upload', make()));
      // The upload is on the server (with the old token) when another request starts the refresh.
      await within(
        2_000,
        waitFor(() => server.to('/upload').length === 1),
      );
      const other = api.get('/other');
      await within(
        2_000,
        waitFor(() => refresh.mock.calls.length === 1),
      );
      answer.resolve();

      const error = await within(2_000, upload);
      expect(isRefreshGateError(error) && error.code).toBe('NOT_REPLAYABLE');
      expect(isAxiosError((error as Error).cause)).toBe(true);
      expect(gate.state.status).toBe('refreshing');

      refreshed.resolve();
      await expect(within(2_000, other)).resolves.toMatchObject({ status: 200 });
      expect(server.to('/upload')).toHaveLength(1);
      expect(refresh).toHaveBeenCalledTimes(1);
    },
  );

  it.each(streams)(
    '%s: a stale 401 (the token changed meanwhile) rejects, no second refresh',
    async (_, make) => {
      const answer = deferred<void>();
      releases.push(answer);
      server.holds.set('/upload', answer.promise);
      const { api, gate, refresh } = setup();

      const upload = rejectionOf(api.post('/upload', make()));
      await within(
        2_000,
        waitFor(() => server.to('/upload').length === 1),
      );
      // Another request refreshes to the new token while the upload's answer is on its way.
      await expect(api.get('/other')).resolves.toMatchObject({ status: 200 });
      expect(refresh).toHaveBeenCalledTimes(1);
      answer.resolve();

      const error = await within(2_000, upload);
      expect(isRefreshGateError(error) && error.code).toBe('NOT_REPLAYABLE');
      const cause = (error as Error).cause;
      expect(isAxiosError(cause) && cause.response?.status).toBe(401);
      expect(server.to('/upload')).toHaveLength(1);
      expect(refresh).toHaveBeenCalledTimes(1);
      expect(gate.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 1 });
    },
  );
});

/** Polls `condition` on a timer until it holds. */
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
