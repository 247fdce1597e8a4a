/**
 * Rule 19 on real sockets: the token goes only where axios will really connect, and a redirect
 * never carries it to another origin, whatever the header is called.
 *
 * Two loopback servers record every request's headers: A is the API ('http://127.0.0.1:<portA>'),
 * B is the other origin ('http://localhost:<portB>'). The requests go through the real Node http
 * adapter (follow-redirects, `beforeRedirect`) or the real fetch adapter; no mock adapter here.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import axios, {
  type AxiosInstance,
  type AxiosRequestConfig,
  type CreateAxiosDefaults,
  isAxiosError,
} from 'axios';
import { createRefreshGate, type RefreshGate, type RefreshGateOptions } from '../../src/index.js';

jest.setTimeout(15_000);

const TOKEN = 'tok-0123456789abcdef';

/** One request a server received. */
interface Hit {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

type Route = (res: ServerResponse, hit: Hit) => void;

/** A loopback server that records every request and answers by path (200 JSON by default). */
interface Recorder {
  readonly origin: string;
  readonly hostPort: string;
  readonly hits: Hit[];
  readonly routes: Map<string, Route>;
  /** The first recorded request to `path` (query string included). */
  hit(path: string): Hit | undefined;
  close(): Promise<void>;
}

async function startRecorder(host: '127.0.0.1' | 'localhost'): Promise<Recorder> {
  const hits: Hit[] = [];
  const routes = new Map<string, Route>();
  const server: Server = createServer((req, res) => {
    const hit: Hit = { method: req.method ?? '', path: req.url ?? '', headers: req.headers };
    hits.push(hit);
    req.resume();
    req.on('end', () => {
      const route = routes.get(hit.path.split('?')[0]!);
      if (route) return route(res, hit);
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ path: hit.path }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const hostPort = `${host}:${port}`;
  return {
    origin: `http://${hostPort}`,
    hostPort,
    hits,
    routes,
    hit: (path) => hits.find((h) => h.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const redirect =
  (location: string): Route =>
  (res) => {
    res.writeHead(302, { location, connection: 'close' });
    res.end();
  };

let A: Recorder;
let B: Recorder;
const gates: RefreshGate[] = [];

beforeEach(async () => {
  A = await startRecorder('127.0.0.1');
  B = await startRecorder('localhost');
});

afterEach(async () => {
  for (const gate of gates.splice(0)) gate.destroy();
  await Promise.all([A?.close(), B?.close()]);
});

/** A gate with {@link TOKEN} on a new instance; the refresh must never run in this file. */
function gated(
  defaults: CreateAxiosDefaults = {},
  options: Partial<RefreshGateOptions> = {},
  before?: (api: AxiosInstance) => void,
) {
  const api = axios.create({ adapter: 'http', ...defaults });
  before?.(api);
  const refresh = jest.fn(async () => {
    throw new Error('no refresh is expected in this file');
  });
  const logger = { debug: jest.fn(), warn: jest.fn() };
  const gate = createRefreshGate({
    refresh,
    initialTokens: { accessToken: TOKEN },
    logger,
    ...options,
  });
  gates.push(gate);
  const detach = gate.attach(api);
  return { api, gate, refresh, detach, logger };
}

/** Every header value of a hit that contains the token, by header name. */
const carried = (hit: Hit | undefined): Record<string, unknown> => {
  if (!hit) throw new Error('the request never reached the server');
  return Object.fromEntries(
    Object.entries(hit.headers).filter(([, value]) => String(value).includes(TOKEN)),
  );
};

/** The request's outcome, without failing the test on a rejection. */
const settle = (promise: Promise<unknown>) =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

describe('the origin of the URL axios requests (no mock adapter)', () => {
  describe('no baseURL on the instance: a URL that WHATWG URL trims or cleans reaches B', () => {
    const variants: Array<[string, (b: string) => string]> = [
      ['a leading space', (b) => ` http://${b}/x`],
      ['two leading spaces', (b) => `  http://${b}/x`],
      ['a leading tab', (b) => `\thttp://${b}/x`],
      ['a leading newline', (b) => `\nhttp://${b}/x`],
      ['a leading CR LF', (b) => `\r\nhttp://${b}/x`],
      ['a leading control character', (b) => `\u0001http://${b}/x`],
      ['a tab inside the scheme', (b) => `ht\ttp://${b}/x`],
      ['a newline inside the scheme', (b) => `htt\np://${b}/x`],
      ['a tab between the colon and the slashes', (b) => `http:\t//${b}/x`],
      ['a newline between the slashes', (b) => `http:/\n/${b}/x`],
      ['a tab inside the host', (b) => `http://local\thost:${b.split(':')[1]}/x`],
    ];

    it.each(variants)('%s: B is reached, without the token', async (_, url) => {
      const { api, refresh, logger } = gated();
      const outcome = await settle(api.get(url(B.hostPort)));
      expect(outcome).toMatchObject({ ok: true, value: { status: 200 } });
      expect(B.hits).toHaveLength(1);
      expect(B.hits[0]!.path).toBe('/x');
      expect(carried(B.hits[0])).toEqual({});
      expect(B.hits[0]!.headers.authorization).toBeUndefined();
      expect(A.hits).toHaveLength(0);
      expect(refresh).not.toHaveBeenCalled();
      // Rule 12: an absolute URL with no baseURL and no allow-list: the logger says so, by origin.
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(String(logger.warn.mock.calls[0]![0])).toContain(B.origin);
    });

    it.each([
      ['a leading space', (b: string) => ` http://${b}/x`],
      ['a tab inside the scheme', (b: string) => `ht\ttp://${b}/x`],
    ])('%s, through the fetch adapter: B is reached, without the token', async (_, url) => {
      const { api } = gated({ adapter: 'fetch' }, { header: 'X-Auth-Token' });
      await expect(api.get(url(B.hostPort))).resolves.toMatchObject({ status: 200 });
      expect(carried(B.hit('/x'))).toEqual({});
    });

    it('a URL object on B: B is reached, without the token', async () => {
      const { api } = gated({}, { allowedOrigins: [A.origin] });
      const url = new URL(`${B.origin}/x`) as unknown as string;
      await expect(api.get(url)).resolves.toMatchObject({ status: 200 });
      expect(carried(B.hit('/x'))).toEqual({});
    });

    it("userinfo that names A before B's host: B is reached, without the token", async () => {
      const { api } = gated({}, { allowedOrigins: [A.origin] });
      await expect(
        api.get(`http://127.0.0.1:${A.hostPort.split(':')[1]}@${B.hostPort}/x`),
      ).resolves.toMatchObject({ status: 200 });
      expect(carried(B.hit('/x'))).toEqual({});
    });

    it('the same leading space with a custom header and an allow-list naming only A', async () => {
      const { api } = gated({}, { header: 'X-Auth-Token', scheme: '', allowedOrigins: [A.origin] });
      await expect(api.get(` http://${B.hostPort}/x`)).resolves.toMatchObject({ status: 200 });
      expect(carried(B.hit('/x'))).toEqual({});
      // And an allowed origin behind the same leading space does get it: it is A that is reached.
      await expect(api.get(` ${A.origin}/y`)).resolves.toMatchObject({ status: 200 });
      expect(A.hit('/y')?.headers['x-auth-token']).toBe(TOKEN);
    });

    it('with a baseURL on A, the same string is a path on A, and A gets the token', async () => {
      const { api } = gated({ baseURL: A.origin });
      await expect(api.get(` http://${B.hostPort}/x`)).resolves.toMatchObject({ status: 200 });
      expect(B.hits).toHaveLength(0);
      expect(A.hits).toHaveLength(1);
      expect(A.hits[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    });
  });

  describe('allowAbsoluteUrls: false sends an absolute URL to the baseURL', () => {
    it.each([
      ['per request', false],
      ['on the instance defaults', true],
    ])('%s: baseURL A, url on B: A is requested, with the token', async (_, onDefaults) => {
      const { api } = gated(
        onDefaults ? { baseURL: A.origin, allowAbsoluteUrls: false } : { baseURL: A.origin },
      );
      const config: AxiosRequestConfig = onDefaults ? {} : { allowAbsoluteUrls: false };
      await expect(api.get(`${B.origin}/x`, config)).resolves.toMatchObject({ status: 200 });
      expect(B.hits).toHaveLength(0);
      expect(A.hits).toHaveLength(1);
      expect(A.hits[0]!.path).toBe(`/${B.origin}/x`);
      expect(A.hits[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    });

    it.each([
      ['per request', false],
      ['on the instance defaults', true],
    ])(
      '%s: baseURL B, allowedOrigins [A], url on A: B is requested, with no token',
      async (_, onDefaults) => {
        const { api } = gated(
          onDefaults ? { baseURL: B.origin, allowAbsoluteUrls: false } : { baseURL: B.origin },
          { allowedOrigins: [A.origin] },
        );
        const config: AxiosRequestConfig = onDefaults ? {} : { allowAbsoluteUrls: false };
        await expect(api.get(`${A.origin}/x`, config)).resolves.toMatchObject({ status: 200 });
        expect(A.hits).toHaveLength(0);
        expect(B.hits).toHaveLength(1);
        expect(B.hits[0]!.path).toBe(`/${A.origin}/x`);
        expect(carried(B.hits[0])).toEqual({});
      },
    );

    it('baseURL A with allowAbsoluteUrls: false on the defaults, true per request: B, no token', async () => {
      const { api } = gated({ baseURL: A.origin, allowAbsoluteUrls: false });
      await expect(api.get(`${B.origin}/x`, { allowAbsoluteUrls: true })).resolves.toMatchObject({
        status: 200,
      });
      expect(A.hits).toHaveLength(0);
      expect(carried(B.hit('/x'))).toEqual({});
    });

    it.each([
      ['a trailing tab', (b: string) => `http://${b}\t`],
      ['a tab inside the host', (b: string) => `http://local\thost:${b.split(':')[1]}`],
      ['a newline after the scheme', (b: string) => `http:\n//${b}`],
      ['userinfo naming A', (b: string) => `http://${A.hostPort}@${b}`],
    ])('a per-request baseURL on B with %s reaches B, with no token', async (_, base) => {
      const { api } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token' });
      await expect(api.get('/x', { baseURL: base(B.hostPort) })).resolves.toMatchObject({
        status: 200,
      });
      expect(A.hits).toHaveLength(0);
      expect(carried(B.hit('/x'))).toEqual({});
    });

    it('a per-request baseURL on B behind a leading space reaches B, with no token', async () => {
      const { api } = gated({ baseURL: A.origin });
      await expect(api.get('/x', { baseURL: ` http://${B.hostPort}` })).resolves.toMatchObject({
        status: 200,
      });
      expect(A.hits).toHaveLength(0);
      expect(carried(B.hit('/x'))).toEqual({});
    });
  });
});

describe('redirects through the Node http adapter (follow-redirects, beforeRedirect)', () => {
  beforeEach(() => {
    A.routes.set('/to-b', redirect(`${B.origin}/landing`));
    A.routes.set('/to-a', redirect('/other'));
    A.routes.set('/to-a-absolute', redirect(`${A.origin}/other-absolute`));
    A.routes.set('/chain', redirect(`${B.origin}/bounce`));
    B.routes.set('/bounce', redirect(`${A.origin}/final`));
  });

  const customHeaders: Array<[string, Partial<RefreshGateOptions>, string, string]> = [
    [
      "header 'X-Auth-Token', scheme ''",
      { header: 'X-Auth-Token', scheme: '' },
      'x-auth-token',
      TOKEN,
    ],
    ["header 'X-Auth-Token'", { header: 'X-Auth-Token' }, 'x-auth-token', `Bearer ${TOKEN}`],
    [
      "header 'x-auth-token' (lower case)",
      { header: 'x-auth-token' },
      'x-auth-token',
      `Bearer ${TOKEN}`,
    ],
    ['the default Authorization', {}, 'authorization', `Bearer ${TOKEN}`],
  ];

  it.each(customHeaders)('%s: a redirect to B drops the token', async (_, options, name, value) => {
    const { api } = gated({ baseURL: A.origin }, options);
    await expect(api.get('/to-b')).resolves.toMatchObject({
      status: 200,
      data: { path: '/landing' },
    });
    expect(A.hit('/to-b')?.headers[name]).toBe(value);
    expect(B.hit('/landing')).toBeDefined();
    expect(carried(B.hit('/landing'))).toEqual({});
    expect(B.hit('/landing')?.headers[name]).toBeUndefined();
  });

  it.each(customHeaders)(
    '%s: a redirect within A keeps the token',
    async (_, options, name, value) => {
      const { api } = gated({ baseURL: A.origin }, options);
      await expect(api.get('/to-a')).resolves.toMatchObject({
        status: 200,
        data: { path: '/other' },
      });
      expect(A.hit('/other')?.headers[name]).toBe(value);
      await expect(api.get('/to-a-absolute')).resolves.toMatchObject({ status: 200 });
      expect(A.hit('/other-absolute')?.headers[name]).toBe(value);
      expect(B.hits).toHaveLength(0);
    },
  );

  // B listens on localhost, which is 127.0.0.1 here too: "127.0.0.1:<portB>" is A's host on
  // another port, another origin all the same.
  const elsewhere: Array<[string, (portB: string) => string]> = [
    ["127.0.0.1 on B's port (same host, other port)", (p) => `http://127.0.0.1:${p}/landing`],
    ['a protocol-relative Location', (p) => `//localhost:${p}/landing`],
    ['an upper-case host', (p) => `http://LocalHost:${p}/landing`],
  ];

  it.each(elsewhere)("header 'X-Auth-Token': a redirect to %s drops it", async (_, location) => {
    A.routes.set('/elsewhere', redirect(location(B.hostPort.split(':')[1]!)));
    const { api } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token', scheme: '' });
    await expect(api.get('/elsewhere')).resolves.toMatchObject({ status: 200 });
    expect(A.hit('/elsewhere')?.headers['x-auth-token']).toBe(TOKEN);
    expect(B.hit('/landing')).toBeDefined();
    expect(carried(B.hit('/landing'))).toEqual({});
  });

  it("header 'X-Auth-Token': a POST redirected with 307 to B keeps its body, not the token", async () => {
    A.routes.set('/post-307', (res) => {
      res.writeHead(307, { location: `${B.origin}/landing`, connection: 'close' });
      res.end();
    });
    const { api } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token' });
    await expect(api.post('/post-307', { a: 1 })).resolves.toMatchObject({ status: 200 });
    expect(B.hit('/landing')?.method).toBe('POST');
    expect(carried(B.hit('/landing'))).toEqual({});
  });

  it('a replay after a refresh, redirected to B: the new token does not follow (applyToken)', async () => {
    const NEW = 'tok-new-fedcba9876543210';
    A.routes.set('/replayed', (res, hit) => {
      if (hit.headers['x-api-key'] === NEW) return redirect(`${B.origin}/landing`)(res, hit);
      res.writeHead(401, { connection: 'close' });
      res.end();
    });
    const api = axios.create({ adapter: 'http', baseURL: A.origin });
    const refresh = jest.fn(async () => NEW);
    const gate = createRefreshGate({
      refresh,
      initialTokens: { accessToken: TOKEN },
      applyToken: (config, token) => {
        config.headers.set('X-Api-Key', token);
      },
    });
    gates.push(gate);
    gate.attach(api);
    await expect(api.get('/replayed')).resolves.toMatchObject({ status: 200 });
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(
      A.hits.filter((hit) => hit.path === '/replayed').map((h) => h.headers['x-api-key']),
    ).toEqual([TOKEN, NEW]);
    const landing = B.hit('/landing');
    expect(landing).toBeDefined();
    expect(Object.values(landing!.headers).filter((v) => /tok-/.test(String(v)))).toEqual([]);
  });

  it('a redirect chain A -> B -> A: B never gets the token', async () => {
    const { api } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token', scheme: '' });
    await expect(api.get('/chain')).resolves.toMatchObject({
      status: 200,
      data: { path: '/final' },
    });
    expect(A.hit('/chain')?.headers['x-auth-token']).toBe(TOKEN);
    expect(carried(B.hit('/bounce'))).toEqual({});
    // A's second hop came back through B: it may go without the token (it does not matter here).
    expect(A.hit('/final')).toBeDefined();
  });

  it("applyToken's own header is dropped on a redirect to B (by value), kept within A", async () => {
    const { api } = gated(
      { baseURL: A.origin },
      {
        applyToken: (config, token) => {
          config.headers.set('X-Api-Key', token);
        },
      },
    );
    await expect(api.get('/to-b')).resolves.toMatchObject({ status: 200 });
    expect(A.hit('/to-b')?.headers['x-api-key']).toBe(TOKEN);
    expect(carried(B.hit('/landing'))).toEqual({});
    await expect(api.get('/to-a')).resolves.toMatchObject({ status: 200 });
    expect(A.hit('/other')?.headers['x-api-key']).toBe(TOKEN);

    await expect(api.get('/chain')).resolves.toMatchObject({ status: 200 });
    expect(carried(B.hit('/bounce'))).toEqual({});
  });

  describe("the user's own beforeRedirect", () => {
    /** A hook that records, per hop, where it was going and whether the token was still on it. */
    const recordingHook = () => {
      const hops: Array<{ to: string; tokenOnIt: boolean }> = [];
      const hook = jest.fn((options: Record<string, unknown>) => {
        const headers = (options.headers ?? {}) as Record<string, unknown>;
        hops.push({
          to: String(options.href),
          tokenOnIt: Object.values(headers).some((v) => String(v).includes(TOKEN)),
        });
      });
      return { hook, hops };
    };

    it('on the instance defaults: still runs once per hop, after the token is dropped', async () => {
      const { hook, hops } = recordingHook();
      const { api } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token', scheme: '' }, (i) => {
        i.defaults.beforeRedirect = hook;
      });
      await expect(api.get('/chain')).resolves.toMatchObject({ status: 200 });
      expect(hook).toHaveBeenCalledTimes(2);
      expect(hops.map((h) => h.to)).toEqual([`${B.origin}/bounce`, `${A.origin}/final`]);
      expect(hops[0]!.tokenOnIt).toBe(false);
      expect(carried(B.hit('/bounce'))).toEqual({});

      hook.mockClear();
      await expect(api.get('/to-b')).resolves.toMatchObject({ status: 200 });
      expect(hook).toHaveBeenCalledTimes(1);
      expect(carried(B.hit('/landing'))).toEqual({});

      hook.mockClear();
      await expect(api.get('/to-a')).resolves.toMatchObject({ status: 200 });
      expect(hook).toHaveBeenCalledTimes(1);
      expect(A.hit('/other')?.headers['x-auth-token']).toBe(TOKEN);
    });

    it('per request: still runs once per hop, and the token does not leak', async () => {
      const { hook, hops } = recordingHook();
      const { api } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token', scheme: '' });
      await expect(api.get('/chain', { beforeRedirect: hook })).resolves.toMatchObject({
        status: 200,
      });
      expect(hook).toHaveBeenCalledTimes(2);
      expect(hops[0]).toEqual({ to: `${B.origin}/bounce`, tokenOnIt: false });
      expect(carried(B.hit('/bounce'))).toEqual({});

      hook.mockClear();
      await expect(api.get('/to-a', { beforeRedirect: hook })).resolves.toMatchObject({
        status: 200,
      });
      expect(hook).toHaveBeenCalledTimes(1);
      expect(A.hit('/other')?.headers['x-auth-token']).toBe(TOKEN);
    });

    it('both: the per-request one runs once per hop (axios lets it replace the default)', async () => {
      const onDefaults = recordingHook();
      const perRequest = recordingHook();
      const { api } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token' }, (i) => {
        i.defaults.beforeRedirect = onDefaults.hook;
      });
      await expect(api.get('/to-b', { beforeRedirect: perRequest.hook })).resolves.toMatchObject({
        status: 200,
      });
      expect(perRequest.hook).toHaveBeenCalledTimes(1);
      expect(onDefaults.hook.mock.calls.length + perRequest.hook.mock.calls.length).toBe(1);
      expect(carried(B.hit('/landing'))).toEqual({});
    });
  });

  it('a hook the user puts on the defaults after attach() is wrapped per request, and kept on detach', async () => {
    const { api, detach } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token', scheme: '' });
    const late = jest.fn();
    api.defaults.beforeRedirect = late;
    await expect(api.get('/to-b')).resolves.toMatchObject({ status: 200 });
    expect(late).toHaveBeenCalledTimes(1);
    expect(carried(B.hit('/landing'))).toEqual({});
    detach();
    expect(api.defaults.beforeRedirect).toBe(late);
  });

  it('a request with skipAuthRefresh (it still carries the token) is guarded too', async () => {
    const { api } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token', scheme: '' });
    await expect(api.get('/to-b', { skipAuthRefresh: true })).resolves.toMatchObject({
      status: 200,
    });
    expect(A.hit('/to-b')?.headers['x-auth-token']).toBe(TOKEN);
    expect(carried(B.hit('/landing'))).toEqual({});
  });

  describe('detach()', () => {
    it("puts the user's own instance beforeRedirect back", async () => {
      const userHook = jest.fn();
      const { api, detach } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token' }, (i) => {
        i.defaults.beforeRedirect = userHook;
      });
      // The gate's guard is on the defaults while attached...
      expect(api.defaults.beforeRedirect).not.toBe(userHook);
      expect(typeof api.defaults.beforeRedirect).toBe('function');
      detach();
      // ...and the user's hook is back, untouched, after.
      expect(api.defaults.beforeRedirect).toBe(userHook);
      await expect(api.get('/to-b')).resolves.toMatchObject({ status: 200 });
      expect(userHook).toHaveBeenCalledTimes(1);
      expect(carried(A.hit('/to-b'))).toEqual({});
    });

    it('leaves no beforeRedirect behind when the instance had none', () => {
      const { api, detach } = gated({ baseURL: A.origin }, { header: 'X-Auth-Token' });
      expect(typeof api.defaults.beforeRedirect).toBe('function');
      detach();
      expect(api.defaults.beforeRedirect).toBeUndefined();
    });

    it('destroy() detaches too', () => {
      const userHook = jest.fn();
      const { api, gate } = gated({ baseURL: A.origin }, {}, (i) => {
        i.defaults.beforeRedirect = userHook;
      });
      gate.destroy();
      expect(api.defaults.beforeRedirect).toBe(userHook);
    });
  });

  describe('two gates on one instance', () => {
    const TOKEN_A = `${TOKEN}-a`;
    const TOKEN_B = `${TOKEN}-b`;

    /** Gate A puts its token in 'X-A', gate B in 'X-B'; neither refreshes. */
    function twoGates(userHook?: AxiosRequestConfig['beforeRedirect']) {
      const api = axios.create({ adapter: 'http', baseURL: A.origin });
      if (userHook) api.defaults.beforeRedirect = userHook;
      const gate = (header: string, accessToken: string) => {
        const made = createRefreshGate({
          refresh: async () => {
            throw new Error('no refresh is expected in this file');
          },
          initialTokens: { accessToken },
          header,
          scheme: '',
          logger: { debug: jest.fn(), warn: jest.fn() },
        });
        gates.push(made);
        return made;
      };
      return { api, gateA: gate('X-A', TOKEN_A), gateB: gate('X-B', TOKEN_B) };
    }

    it.each([
      ["the user's hook", 'A, then B', true, ['A', 'B']],
      ["the user's hook", 'B, then A (a guard: right at f29a7f0 too)', true, ['B', 'A']],
      ['no hook', 'A, then B', false, ['A', 'B']],
    ] as const)(
      '%s on the defaults; attach A, attach B, detach %s: the defaults have it back',
      (_, _order, withHook, order) => {
        const userHook = withHook ? jest.fn() : undefined;
        const { api, gateA, gateB } = twoGates(userHook);
        const detach = { A: gateA.attach(api), B: gateB.attach(api) };
        expect(api.defaults.beforeRedirect).not.toBe(userHook);
        detach[order[0]]();
        // One gate is still attached: its guard is on the defaults.
        expect(typeof api.defaults.beforeRedirect).toBe('function');
        expect(api.defaults.beforeRedirect).not.toBe(userHook);
        detach[order[1]]();
        expect(api.defaults.beforeRedirect).toBe(userHook);
      },
    );

    it('A detached, B still attached: a redirect to B drops X-B, runs the hook once per hop, and leaves X-A alone', async () => {
      // follow-redirects hands every hop the same options object: where it goes is read at the call.
      const hops: string[] = [];
      const hook = jest.fn((options: Record<string, unknown>) => {
        hops.push(String(options.href));
      });
      const { api, gateA, gateB } = twoGates(hook);
      const detachA = gateA.attach(api);
      gateB.attach(api);

      // Both attached: neither token follows the redirect, and the hook runs once.
      await expect(api.get('/to-b')).resolves.toMatchObject({ status: 200 });
      expect(A.hit('/to-b')?.headers).toMatchObject({ 'x-a': TOKEN_A, 'x-b': TOKEN_B });
      expect(carried(B.hit('/landing'))).toEqual({});
      expect(hook).toHaveBeenCalledTimes(1);

      detachA();
      hook.mockClear();
      hops.length = 0;
      // 'X-A' is now only a header of the caller's own: Node's follower keeps such headers on a
      // redirect to another host, and a detached gate must not drop it any more.
      await expect(
        api.get('/chain', { headers: { 'X-A': 'the-callers-own-value' } }),
      ).resolves.toMatchObject({ status: 200, data: { path: '/final' } });
      expect(A.hit('/chain')?.headers).toMatchObject({
        'x-a': 'the-callers-own-value',
        'x-b': TOKEN_B,
      });
      const bounce = B.hit('/bounce');
      expect(carried(bounce)).toEqual({});
      expect(bounce?.headers['x-b']).toBeUndefined();
      expect(bounce?.headers['x-a']).toBe('the-callers-own-value');
      expect(hook).toHaveBeenCalledTimes(2);
      expect(hops).toEqual([`${B.origin}/bounce`, `${A.origin}/final`]);
    });
  });
});

describe('redirects through the fetch adapter', () => {
  beforeEach(() => {
    A.routes.set('/to-b', redirect(`${B.origin}/landing`));
    A.routes.set('/to-a', redirect('/other'));
  });

  it("header 'X-Auth-Token': a redirect to B fails the request; B never sees the token", async () => {
    const { api } = gated({ baseURL: A.origin, adapter: 'fetch' }, { header: 'X-Auth-Token' });
    const outcome = await settle(api.get('/to-b'));
    expect(A.hit('/to-b')?.headers['x-auth-token']).toBe(`Bearer ${TOKEN}`);
    // The gate asks fetch not to follow redirects (fetch would keep X-Auth-Token on the way to
    // another origin; it drops only Authorization): the request fails instead of reaching B.
    expect(B.hits.map((hit) => carried(hit))).toEqual(B.hits.map(() => ({})));
    expect(B.hits).toHaveLength(0);
    expect(outcome.ok).toBe(false);
    const error = outcome.ok ? undefined : outcome.error;
    expect(isAxiosError(error)).toBe(true);
    expect(isAxiosError(error) && error.response).toBeUndefined();
    expect(isAxiosError(error) && error.config?.fetchOptions?.redirect).toBe('error');
    // Exactly what the caller gets (axios 1.21 on Node 20's fetch): a network error, no response.
    expect(isAxiosError(error) && error.code).toBe('ERR_NETWORK');
    expect(isAxiosError(error) && error.message).toBe('Network Error');
    expect(((error as Error).cause as Error | undefined)?.message).toBe('unexpected redirect');
  });

  it("header 'X-Auth-Token': a redirect within A fails the same way (the cost of redirect: 'error')", async () => {
    const { api } = gated({ baseURL: A.origin, adapter: 'fetch' }, { header: 'X-Auth-Token' });
    const outcome = await settle(api.get('/to-a'));
    expect(outcome.ok).toBe(false);
    expect(isAxiosError(outcome.ok ? undefined : outcome.error)).toBe(true);
    expect(A.hits.map((hit) => hit.path)).toEqual(['/to-a']);
    expect(B.hits).toHaveLength(0);
  });

  it("header 'X-Auth-Token': a caller's own fetchOptions.redirect is kept", async () => {
    const { api } = gated({ baseURL: A.origin, adapter: 'fetch' }, { header: 'X-Auth-Token' });
    const outcome = await settle(api.get('/to-b', { fetchOptions: { redirect: 'manual' } }));
    // 'manual': fetch hands back the redirect itself and goes nowhere else.
    expect(B.hits).toHaveLength(0);
    expect(A.hits).toHaveLength(1);
    expect(outcome.ok || isAxiosError(outcome.error)).toBe(true);
  });

  it('the default Authorization: fetch follows the redirect to B and drops the header itself', async () => {
    const { api } = gated({ baseURL: A.origin, adapter: 'fetch' });
    await expect(api.get('/to-b')).resolves.toMatchObject({
      status: 200,
      data: { path: '/landing' },
    });
    expect(A.hit('/to-b')?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(carried(B.hit('/landing'))).toEqual({});
  });
  it("header 'X-Auth-Token', no fetchOptions: a later interceptor can add to the gate's fetchOptions", async () => {
    const seen: unknown[] = [];
    // Added before attach(): axios runs request interceptors last added first, so this runs after
    // the gate's, on the fetchOptions the gate set.
    const { api } = gated(
      { baseURL: A.origin, adapter: 'fetch' },
      { header: 'X-Auth-Token' },
      (i) => {
        i.interceptors.request.use((config) => {
          seen.push(config.fetchOptions?.redirect);
          if (config.url === '/first') {
            // What `Object.assign((config.fetchOptions ??= {}), { cache: 'no-store' })` does.
            config.fetchOptions ??= {};
            Object.assign(config.fetchOptions, { cache: 'no-store' });
          }
          return config;
        });
      },
    );

    const first = await settle(api.get('/first'));
    expect(first.ok ? undefined : first.error).toBeUndefined();
    expect(first).toMatchObject({
      ok: true,
      value: { status: 200, config: { fetchOptions: { redirect: 'error', cache: 'no-store' } } },
    });
    expect(A.hit('/first')?.headers['x-auth-token']).toBe(`Bearer ${TOKEN}`);

    // Each request has fetchOptions of its own: the first one's addition is not on the next.
    const second = await api.get('/second');
    expect(second.config.fetchOptions).toEqual({ redirect: 'error' });
    expect(seen).toEqual(['error', 'error']);
  });
});
