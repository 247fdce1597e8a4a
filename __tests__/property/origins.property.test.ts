/**
 * Property test of the origin policy (contract rules 12 and 19) against an oracle that shares no
 * code with src/origins.ts.
 *
 * The oracle asks axios itself for the URL it will request (`axios.getUri`: its own buildFullPath,
 * `allowAbsoluteUrls` included), parses that with WHATWG `URL` (in a browser against the page:
 * `document.baseURI ?? location.href`), and decides:
 * - only http: and https: origins ever get the token;
 * - with allowedOrigins: allowed iff the origin reached is listed (a string is an exact origin, a
 *   RegExp is tested against the origin); a relative URL in Node (no page) never matches;
 * - without: allowed iff the origin reached is the page's (browser), home (a relative URL in
 *   Node), or the origin the instance's own `defaults.baseURL` reaches, however it is written
 *   (' https://api.test' with a leading space reaches https://api.test).
 * In Node a URL that does not parse without a base is resolved against a placeholder: it is home
 * when it lands on the placeholder's origin, else it names a host of its own ('//evil.test/x',
 * '/\\evil.test'). Which scheme such a host is reached with is not the contract's to say, so the
 * oracle resolves against an http: and an https: placeholder and accepts either answer when they
 * differ. When axios.getUri throws (e.g. 'https:evil', ERR_INVALID_URL) nothing is sent: then the
 * policy only has to answer without throwing.
 *
 * Each run builds one policy (in Node, or in a browser page defined on globalThis before the
 * policy is created) and asks it about several requests, the first one twice (its caches).
 *
 * Environment:
 *   PROPERTY_RUNS=<n>  runs per property (two properties; default 1000 each, what CI runs)
 *   MODEL_SEED=<n>     the seed (default below; a failure prints its seed and replay path)
 *   MODEL_VERBOSE=1|2  fast-check's verbose output
 * e.g. `PROPERTY_RUNS=50000 MODEL_SEED=7 npx jest __tests__/property/origins.property.test.ts`.
 */
import axios, {
  type AxiosAdapter,
  type AxiosInstance,
  type InternalAxiosRequestConfig,
} from 'axios';
import fc from 'fast-check';
import { attachRefreshGate, type RefreshGate } from '../../src/index.js';
import { createOriginPolicy, HOME } from '../../src/origins.js';

const numRuns = Number(process.env.PROPERTY_RUNS ?? 1000);
const seed = Number(process.env.MODEL_SEED ?? 0x12_1919);
const verbose = Number(process.env.MODEL_VERBOSE ?? 0) as fc.VerbosityLevel;

// ---------------------------------------------------------------------------------------------
// Pages (browser mode)
// ---------------------------------------------------------------------------------------------

/** A browser page: its location, and the document's base URL when a <base> element sets one. */
interface Page {
  readonly href: string;
  readonly baseURI?: string;
}
type Mode = 'node' | Page;

const PAGES: readonly Page[] = [
  { href: 'https://app.test/dir/page' },
  { href: 'http://localhost:8080/app/index.html?x=1#top' },
  { href: 'https://app.test/dir/page', baseURI: 'https://app.test/base/sub/' },
];

const pageBaseOf = (mode: Mode): string | undefined =>
  mode === 'node' ? undefined : (mode.baseURI ?? mode.href);

/** Runs `fn` with globalThis.location (and document, when the page has a base URL) defined. */
function inMode<T>(mode: Mode, fn: () => T): T {
  if (mode === 'node') return fn();
  const location = new URL(mode.href);
  Object.defineProperty(globalThis, 'location', {
    value: { href: location.href, origin: location.origin, protocol: location.protocol },
    configurable: true,
  });
  if (mode.baseURI !== undefined)
    Object.defineProperty(globalThis, 'document', {
      value: { baseURI: mode.baseURI },
      configurable: true,
    });
  try {
    return fn();
  } finally {
    Reflect.deleteProperty(globalThis, 'location');
    Reflect.deleteProperty(globalThis, 'document');
  }
}

const describeMode = (mode: Mode) =>
  mode === 'node' ? 'node' : `browser(${JSON.stringify(mode)})`;

// ---------------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------------

/** Where Node-mode relative URLs are put to tell home from a host of their own. */
const PLACEHOLDERS = ['http://placeholder-a.invalid/', 'https://placeholder-b.invalid/'] as const;
/** The oracle's "home": a relative URL in Node that stays on the instance's own host. */
const ORACLE_HOME = Symbol('home');
type Reached = string | typeof ORACLE_HOME | null;

const httpOrigin = (u: URL): string | null =>
  u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;

/** The origin WHATWG URL gives `full`, given the page (or, in Node, a placeholder). */
function reach(full: string, page: string | undefined, placeholder: string): Reached {
  try {
    return httpOrigin(new URL(full, page));
  } catch {
    if (page !== undefined) return null;
  }
  try {
    const u = new URL(full, placeholder);
    return u.origin === new URL(placeholder).origin ? ORACLE_HOME : httpOrigin(u);
  } catch {
    return null;
  }
}

/** What axios will request for `config` (undefined when axios refuses to build it). */
function fullPathOf(config: object): { full: string } | undefined {
  try {
    return { full: axios.getUri(config) ?? '' };
  } catch {
    return undefined;
  }
}

const listedIn = (allowed: readonly (string | RegExp)[], origin: string) =>
  allowed.some((entry) => {
    if (typeof entry === 'string') return entry === origin;
    const copy = new RegExp(entry.source, entry.flags);
    copy.lastIndex = 0;
    return copy.test(origin);
  });

interface Request {
  readonly url: string | undefined;
  /** The per-request baseURL; undefined: the instance's (axios' merge). */
  readonly baseURL: string | undefined;
  readonly allowAbsoluteUrls: boolean | undefined;
}

interface Setup {
  readonly mode: Mode;
  readonly allowedOrigins: readonly (string | RegExp)[] | undefined;
  readonly instanceBaseURL: string | undefined;
}

/** What the interceptor sees: the instance's baseURL merged in unless the request names one. */
const configOf = (setup: Setup, request: Request) => ({
  url: request.url,
  baseURL: request.baseURL ?? setup.instanceBaseURL,
  allowAbsoluteUrls: request.allowAbsoluteUrls,
});

/**
 * The answers the policy may give (the origin when allowed, null when not), or undefined when
 * axios would not send the request at all.
 */
function oracle(setup: Setup, request: Request): ReadonlySet<string | null> | undefined {
  const built = fullPathOf(configOf(setup, request));
  if (built === undefined) return undefined;
  const page = pageBaseOf(setup.mode);
  const answers = new Set<string | null>();
  for (const placeholder of page === undefined ? PLACEHOLDERS : PLACEHOLDERS.slice(0, 1)) {
    const reached = reach(built.full, page, placeholder);
    answers.add(decide(setup, reached, page, placeholder));
  }
  return answers;
}

function decide(
  setup: Setup,
  reached: Reached,
  page: string | undefined,
  placeholder: string,
): string | null {
  if (reached === null) return null;
  if (setup.allowedOrigins !== undefined)
    return reached !== ORACLE_HOME && listedIn(setup.allowedOrigins, reached) ? reached : null;
  // Default: where relative URLs go (the page's origin, or home) ...
  const pageOrigin: Reached = page === undefined ? ORACLE_HOME : new URL(page).origin;
  if (reached === pageOrigin) return reached === ORACLE_HOME ? HOME : reached;
  if (reached === ORACLE_HOME) return null;
  // ... and the origin the instance's own baseURL reaches, however it is written.
  const home = setup.instanceBaseURL;
  if (!home) return null;
  // An older axios takes 'https:api.test' as it is, where 1.21 refuses it: the origin it names.
  const homeOrigin = reach(fullPathOf({ baseURL: home })?.full ?? home, page, placeholder);
  return typeof homeOrigin === 'string' && homeOrigin === reached ? reached : null;
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const SCHEMES = ['https', 'https', 'http', 'http', 'HTTPS', 'hTtP', 'ws', 'wss', 'ftp', 'file'];
const SEPARATORS = [
  '://',
  '://',
  '://',
  '://',
  '://',
  '://',
  ':',
  ':/',
  ':\\\\',
  ':/\\',
  ':///',
  ':\\/',
];
const USERINFO = ['', '', '', '', 'user:pass@', 'api.test@', 'allowed.test@', '@', 'u@'];
const HOSTS = [
  'api.test',
  'api.test',
  'API.TEST',
  'Api.Test',
  'app.test',
  'localhost',
  'evil.test',
  'api.test.evil.test',
  'evilapi.test',
  'sub.api.test',
  'bücher.test',
  'BÜCHER.test',
  'xn--bcher-kva.test',
  'XN--BCHER-KVA.test',
  '\uff41pi.test', // a fullwidth "a": IDNA maps it to api.test
  'api%2etest',
  'api.test.',
  '127.0.0.1',
  '[::1]',
  'allowed.test@evil.test',
  'api.test\\@evil.test',
  'exa mple.test',
  '',
];
const PORTS = ['', '', '', '', ':80', ':443', ':8080', ':8443', ':0443', ':', ':99999'];
const PATHS = [
  '',
  '/',
  '/x',
  '/x',
  '/a/../b',
  '/..',
  '/../../evil.test/x',
  '/%2e%2e/x',
  '\\x',
  '/@evil.test',
  '//evil.test/x',
  '/x?next=https://evil.test/y',
  '?u=https://evil.test/',
  '?u=//evil.test',
  '#https://evil.test',
];
const SPECIAL_URLS = [
  'data:text/plain,hi',
  'data:,https://api.test/',
  'blob:https://api.test/uuid',
  'blob:https://app.test/uuid',
  'blob:null/uuid',
  'https:evil.test',
  'https:/evil.test',
  'http:api.test',
  'HTTPS:api.test/x',
  'https:',
  'https://',
  'http://',
  '//',
  '/',
  '///evil.test',
  '//evil.test/x',
  '//api.test/x',
  '//app.test/x',
  '/\\evil.test/x',
  '\\\\evil.test\\x',
  '\\/evil.test',
  '/x',
  '/x',
  'x',
  'me?x=https://evil.test',
  '../x',
  '../../..//evil.test',
  '?q=1',
  '#f',
  '',
  'javascript:alert(1)',
  'about:blank',
  'mailto:a@api.test',
  'file:///etc/passwd',
  'ws://api.test/s',
  'api.test/x',
  'api.test:443/x',
  'localhost:8080/x',
];
const BASES = [
  '/api',
  '/api/',
  'api',
  'api/',
  '/',
  '//',
  '///',
  'https://',
  'http:',
  'https:api.test',
  '//api.test',
  '//api.test/v1/',
  '/\\evil.test',
  'https://api.test',
  'https://api.test/v1',
  'https://api.test/v1//',
  'http://localhost:8080',
  'https://app.test/',
  'https://evil.test',
  'data:text/plain,',
];
/** Characters the WHATWG parser strips (C0 and space at the ends, tab/LF/CR anywhere) or keeps. */
const WHITESPACE = [
  ' ',
  '\t',
  '\n',
  '\r',
  '\0',
  '\x01',
  '\x08',
  '\x0b',
  '\x0c',
  '\x1b',
  '\x1f',
  '\x7f',
  '\u00a0',
  '\ufeff',
];

const absoluteArb = fc
  .tuple(
    fc.constantFrom(...SCHEMES),
    fc.constantFrom(...SEPARATORS),
    fc.constantFrom(...USERINFO),
    fc.constantFrom(...HOSTS),
    fc.constantFrom(...PORTS),
    fc.constantFrom(...PATHS),
  )
  .map((parts) => parts.join(''));

type Mutation =
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'pad'; readonly start: string; readonly end: string }
  | { readonly kind: 'backslash'; readonly nth: number }
  | { readonly kind: 'upper'; readonly at: number; readonly length: number };

const wsArb = fc.constantFrom(...WHITESPACE);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.string({ unit: wsArb, minLength: 1, maxLength: 2 }),
  }),
  fc.record({
    kind: fc.constant('pad' as const),
    start: fc.string({ unit: wsArb, maxLength: 2 }),
    end: fc.string({ unit: wsArb, maxLength: 2 }),
  }),
  fc.record({ kind: fc.constant('backslash' as const), nth: fc.nat({ max: 5 }) }),
  fc.record({
    kind: fc.constant('upper' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 12 }),
  }),
);

function mutate(text: string, mutation: Mutation): string {
  switch (mutation.kind) {
    case 'insert': {
      const at = mutation.at % (text.length + 1);
      return text.slice(0, at) + mutation.text + text.slice(at);
    }
    case 'pad':
      return mutation.start + text + mutation.end;
    case 'backslash': {
      let seen = -1;
      for (let i = 0; i < text.length; i++) {
        if (text[i] === '/' && ++seen === mutation.nth)
          return `${text.slice(0, i)}\\${text.slice(i + 1)}`;
      }
      return text;
    }
    case 'upper': {
      const at = mutation.at % (text.length + 1);
      const end = at + mutation.length;
      return text.slice(0, at) + text.slice(at, end).toUpperCase() + text.slice(end);
    }
  }
}

/** `arb`, left alone half the time, else with one to three mutations. */
const mutated = (arb: fc.Arbitrary<string>) =>
  fc
    .tuple(
      arb,
      fc.oneof(
        { weight: 1, arbitrary: fc.constant<Mutation[]>([]) },
        { weight: 1, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) },
      ),
    )
    .map(([text, mutations]) => mutations.reduce(mutate, text));

const urlArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 12,
    arbitrary: mutated(
      fc.oneof(
        { weight: 3, arbitrary: absoluteArb },
        { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_URLS) },
      ),
    ),
  },
);

const baseArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant('') },
  {
    weight: 8,
    arbitrary: mutated(
      fc.oneof(
        fc.constantFrom(...BASES),
        fc
          .tuple(absoluteArb, fc.constantFrom('', '', '/', '//', '///'))
          .map(([base, slashes]) => base + slashes),
      ),
    ),
  },
);

const ENTRIES: readonly (string | RegExp)[] = [
  'https://api.test',
  'https://api.test',
  'http://api.test',
  'https://api.test:8443',
  'http://localhost:8080',
  'https://app.test',
  'https://xn--bcher-kva.test',
  'https://bücher.test', // never an origin: origins are in punycode
  'https://API.TEST', // never an origin: origins are in lower case
  'https://api.test/', // never an origin: origins have no path
  'null', // the origin of data: and file: URLs, which never get the token
  /^https:\/\/([a-z\d-]+\.)*api\.test$/,
  /^https:\/\/app\.test$/g,
  /api\.test$/,
  /^http:\/\/127\.0\.0\.1(:\d+)?$/y,
  /^https:\/\/xn--/i,
];

const allowedOriginsArb = fc.oneof(
  fc.constant(undefined),
  fc.subarray([...ENTRIES], { minLength: 0, maxLength: 5 }),
);

const requestArb: fc.Arbitrary<Request> = fc.record({
  url: urlArb,
  baseURL: fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: baseArb },
  ),
  allowAbsoluteUrls: fc.constantFrom(true, false, undefined),
});

const setupArb = (mode: fc.Arbitrary<Mode>): fc.Arbitrary<Setup> =>
  fc.record({ mode, allowedOrigins: allowedOriginsArb, instanceBaseURL: baseArb });

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

const asConfig = (config: object) => config as unknown as InternalAxiosRequestConfig;
const asInstance = (baseURL: string | undefined) =>
  ({ defaults: { baseURL } }) as unknown as AxiosInstance;

const show = (value: unknown) =>
  JSON.stringify(value, (_key, v) => (v instanceof RegExp ? String(v) : v));

/** Checks the policy's answers for `requests` (the first one asked again last) against the oracle. */
function check(setup: Setup, requests: readonly Request[]): void {
  const instance = asInstance(setup.instanceBaseURL);
  inMode(setup.mode, () => {
    const policy = createOriginPolicy(setup.allowedOrigins, () => {});
    for (const request of [...requests, requests[0]!]) {
      const config = configOf(setup, request);
      const expected = oracle(setup, request);
      const got = policy(asConfig({ ...config }), instance);
      if (expected === undefined) continue; // axios refuses to send it: answering is enough
      if (!expected.has(got))
        throw new Error(
          `policy answered ${show(got)}, the oracle ${show([...expected])}\n` +
            `  mode: ${describeMode(setup.mode)}\n` +
            `  allowedOrigins: ${show(setup.allowedOrigins)}\n` +
            `  instance.defaults.baseURL: ${show(setup.instanceBaseURL)}\n` +
            `  config: ${show(config)}\n` +
            `  axios.getUri: ${show(fullPathOf(config)?.full)}`,
        );
    }
  });
}

const requestsArb = fc.array(requestArb, { minLength: 1, maxLength: 4 });

describe('the origin policy against axios + WHATWG URL (rules 12 and 19)', () => {
  it('decides like the oracle in Node (no page)', () => {
    fc.assert(fc.property(setupArb(fc.constant<Mode>('node')), requestsArb, check), {
      seed,
      numRuns,
      verbose,
    });
  });

  it('decides like the oracle in a browser page', () => {
    fc.assert(fc.property(setupArb(fc.constantFrom<Mode>(...PAGES)), requestsArb, check), {
      seed: seed + 1,
      numRuns,
      verbose,
    });
  });

  it("has an oracle that accepts two answers only where a Node URL's scheme is left open", () => {
    const node = (allowedOrigins: readonly string[] | undefined, url: string) =>
      oracle(
        { mode: 'node', allowedOrigins, instanceBaseURL: undefined },
        { url, baseURL: undefined, allowAbsoluteUrls: undefined },
      );
    // '//api.test/x' names a host but no scheme: http or https, the contract does not say.
    expect(node(undefined, '//api.test/x')).toEqual(new Set([null]));
    expect(node(['http://api.test', 'https://api.test'], '//api.test/x')).toEqual(
      new Set(['http://api.test', 'https://api.test']),
    );
    expect(node(['https://api.test'], 'https://api.test/x')).toEqual(new Set(['https://api.test']));
    expect(node(['https://api.test'], '/x')).toEqual(new Set([null]));
    expect(node(undefined, '/x')).toEqual(new Set([HOME]));
    expect(node(undefined, 'https:evil.test')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Named regressions, through the policy and through the gate's public path
// ---------------------------------------------------------------------------------------------

/** The policy's answer for one request, in `mode`. */
function answer(
  mode: Mode,
  allowedOrigins: readonly (string | RegExp)[] | undefined,
  instanceBaseURL: string | undefined,
  request: Partial<Request>,
): string | null {
  const setup: Setup = { mode, allowedOrigins, instanceBaseURL };
  const full: Request = {
    url: request.url,
    baseURL: request.baseURL,
    allowAbsoluteUrls: request.allowAbsoluteUrls,
  };
  return inMode(mode, () =>
    createOriginPolicy(allowedOrigins, () => {})(
      asConfig(configOf(setup, full)),
      asInstance(instanceBaseURL),
    ),
  );
}

/** The Authorization header a request sent through an attached gate carried (undefined: none). */
async function sentAuthorization(
  mode: Mode,
  allowedOrigins: readonly (string | RegExp)[] | undefined,
  instanceBaseURL: string | undefined,
  request: Partial<Request>,
): Promise<unknown> {
  let seen: unknown;
  const adapter: AxiosAdapter = async (config) => {
    seen = config.headers.get('Authorization') ?? undefined;
    return { data: null, status: 200, statusText: 'OK', headers: {}, config };
  };
  const api = axios.create({
    adapter,
    ...(instanceBaseURL === undefined ? {} : { baseURL: instanceBaseURL }),
  });
  const gate: RefreshGate = inMode(mode, () =>
    attachRefreshGate(api, {
      refresh: async () => ({ accessToken: 'refreshed' }),
      initialTokens: { accessToken: 'token' },
      ...(allowedOrigins === undefined ? {} : { allowedOrigins }),
    }),
  );
  try {
    await api.request({
      ...(request.url === undefined ? {} : { url: request.url }),
      ...(request.baseURL === undefined ? {} : { baseURL: request.baseURL }),
      ...(request.allowAbsoluteUrls === undefined
        ? {}
        : { allowAbsoluteUrls: request.allowAbsoluteUrls }),
    });
  } finally {
    gate.destroy();
  }
  return seen;
}

const BROWSER: Page = { href: 'https://app.test/dir/page' };

describe('regressions', () => {
  afterEach(() => {
    Reflect.deleteProperty(globalThis, 'location');
    Reflect.deleteProperty(globalThis, 'document');
  });

  it('(1) refuses a url with a leading space on another host, with no baseURL', async () => {
    const request = { url: ' http://other-host/x' };
    expect(axios.getUri(request)).toBe(' http://other-host/x');
    expect(new URL(' http://other-host/x').origin).toBe('http://other-host');
    for (const mode of ['node', BROWSER] as const) {
      expect(answer(mode, undefined, undefined, request)).toBeNull();
      expect(answer(mode, ['https://app.test', /^https:\/\/api\./], undefined, request)).toBeNull();
      await expect(sentAuthorization(mode, undefined, undefined, request)).resolves.toBeUndefined();
    }
  });

  it('(2) with allowAbsoluteUrls false, judges the baseURL axios requests, not the absolute url', async () => {
    const onAllowed = { url: 'https://evil.test/x', allowAbsoluteUrls: false };
    expect(axios.getUri({ ...onAllowed, baseURL: 'https://api.test' })).toBe(
      'https://api.test/https://evil.test/x',
    );
    // The allowed origin as the instance's baseURL (default policy) or listed.
    expect(answer('node', undefined, 'https://api.test', onAllowed)).toBe('https://api.test');
    expect(answer('node', ['https://api.test'], 'https://api.test', onAllowed)).toBe(
      'https://api.test',
    );
    expect(
      answer('node', ['https://api.test'], undefined, {
        ...onAllowed,
        baseURL: 'https://api.test',
      }),
    ).toBe('https://api.test');
    await expect(sentAuthorization('node', undefined, 'https://api.test', onAllowed)).resolves.toBe(
      'Bearer token',
    );
    // The baseURL on another origin: refused, though the url names an allowed one.
    const onOther = { url: 'https://api.test/x', allowAbsoluteUrls: false };
    expect(
      answer('node', undefined, 'https://api.test', { ...onOther, baseURL: 'https://other.test' }),
    ).toBeNull();
    expect(answer('node', ['https://api.test'], 'https://other.test', onOther)).toBeNull();
    await expect(
      sentAuthorization('node', ['https://api.test'], 'https://other.test', onOther),
    ).resolves.toBeUndefined();
  });

  it('(3) refuses "/\\\\evil.example/x" in a browser: it names a host of its own', async () => {
    const request = { url: '/\\evil.example/x' };
    expect(new URL('/\\evil.example/x', BROWSER.href).origin).toBe('https://evil.example');
    expect(answer(BROWSER, undefined, undefined, request)).toBeNull();
    expect(answer(BROWSER, ['https://app.test'], undefined, request)).toBeNull();
    expect(
      answer(BROWSER, undefined, '/api', { url: '/\\evil.example/x', baseURL: '' }),
    ).toBeNull();
    await expect(
      sentAuthorization(BROWSER, undefined, undefined, request),
    ).resolves.toBeUndefined();
  });

  it('(4) refuses "ht\\ttps://evil.test/": the parser drops the tab inside the scheme', async () => {
    const request = { url: 'ht\ttps://evil.test/' };
    expect(new URL('ht\ttps://evil.test/').origin).toBe('https://evil.test');
    for (const mode of ['node', BROWSER] as const) {
      expect(answer(mode, undefined, undefined, request)).toBeNull();
      expect(answer(mode, ['https://app.test', 'https://api.test'], undefined, request)).toBeNull();
      await expect(sentAuthorization(mode, undefined, undefined, request)).resolves.toBeUndefined();
    }
    // With a baseURL axios does not take it for absolute: it requests baseURL + "/" + it.
    expect(axios.getUri({ ...request, baseURL: 'https://api.test' })).toBe(
      'https://api.test/ht\ttps://evil.test/',
    );
    expect(answer('node', undefined, 'https://api.test', request)).toBe('https://api.test');
  });

  // Counterexamples the property found (fast-check's shrunk values, then the same fault on the
  // simplest request). The policy refuses the token to the instance's own baseURL origin when that
  // baseURL has what the WHATWG parser drops before its "//" (leading C0 controls or spaces, a tab
  // or newline in the scheme): axios takes such a baseURL as it is and requests its origin, but
  // src/origins.ts tests `defaults.baseURL` with axios' isAbsoluteURL regexp and treats it as not
  // absolute. It fails closed (no token where one was due; the gate warns of an unscoped URL).
  it('counterexample (Node): instance baseURL " https://api.test", url "https://api.test"', async () => {
    const request = { url: 'https://api.test', allowAbsoluteUrls: true };
    expect(axios.getUri({ ...request, baseURL: ' https://api.test' })).toBe('https://api.test');
    expect(answer('node', undefined, ' https://api.test', request)).toBe('https://api.test');
    // The same on the simplest request: a path on the instance's own baseURL.
    expect(axios.getUri({ url: '/x', baseURL: ' https://api.test' })).toBe(' https://api.test/x');
    expect(new URL(' https://api.test/x').origin).toBe('https://api.test');
    expect(answer('node', undefined, ' https://api.test', { url: '/x' })).toBe('https://api.test');
    await expect(
      sentAuthorization('node', undefined, ' https://api.test', { url: '/x' }),
    ).resolves.toBe('Bearer token');
  });

  it('counterexample (browser): instance baseURL " https://api.test", url "data:text\\plain,hi"', async () => {
    const request = { url: 'data:text\\plain,hi', allowAbsoluteUrls: true };
    expect(axios.getUri({ ...request, baseURL: ' https://api.test' })).toBe(
      ' https://api.test/data:text\\plain,hi',
    );
    expect(answer(BROWSER, undefined, ' https://api.test', request)).toBe('https://api.test');
    expect(answer(BROWSER, undefined, ' https://api.test', { url: '/x' })).toBe('https://api.test');
    await expect(
      sentAuthorization(BROWSER, undefined, ' https://api.test', { url: '/x' }),
    ).resolves.toBe('Bearer token');
  });

  it.each([
    '\0https://api.test',
    '\nhttps://api.test/v1',
    '\x1fhttps://api.test',
    'ht\ttps://api.test',
    'https:\n//api.test',
    'https:/\t/api.test/',
  ])('counterexample family: instance baseURL %j is the origin axios requests', (baseURL) => {
    const full = axios.getUri({ url: '/x', baseURL });
    expect(new URL(full).origin).toBe('https://api.test');
    for (const mode of ['node', BROWSER] as const)
      expect(answer(mode, undefined, baseURL, { url: '/x' })).toBe('https://api.test');
  });
});
