import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';

/**
 * The origin a relative URL has where there is no page to resolve it against (Node, React
 * Native): built-in adapters refuse such URLs, custom ones (a mock, a socket path) send them to
 * the instance's own home. Never the origin of a real URL, whose origins contain "//".
 */
export const HOME = 'home:';

// axios' isAbsoluteURL: a scheme followed by "//", or a protocol-relative "//".
const ABSOLUTE = /^([a-z][a-z\d+\-.]*:)?\/\//i;
// A scheme and an authority that nothing after them can change: the WHATWG parser ends an
// authority at "/", "?", "#" or "\" (for http and https), and only tabs and newlines are dropped
// from inside a URL. A key that matches is followed by one of those or by the end of the string.
// Spaces and control characters are left out: the parser drops them only at the ends of a URL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point
const AUTHORITY = /^([a-z][a-z\d+\-.]*:)?\/\/[^/?#\\\x00-\x20]*/i;
const ENDS_AUTHORITY = /[/?#\\]/;
// A path with a first segment: nothing appended to it can become an authority.
const PATH = /^\/[^/\\\t\n\r]/;
// Where an unresolvable relative URL is put to tell it from one that reaches another host.
const SENTINEL = 'http://home.invalid';

/** axios' combineURLs: the baseURL without trailing slashes, "/", the URL without leading ones. */
const combine = (base: string, url: string | undefined): string =>
  url ? `${base.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}` : base;

/** The page a browser resolves relative URLs against: XHR and fetch use the document's base URL. */
const pageBase = (): string | undefined => {
  const page = globalThis as { document?: { baseURI?: unknown }; location?: { href?: unknown } };
  const base = page.document?.baseURI ?? page.location?.href;
  return typeof base === 'string' ? base : undefined;
};

/** The origin `url` reaches, as WHATWG `URL` parses it: `null` for no http(s) origin. */
function resolve(url: string, page: string | undefined): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url, page);
  } catch {
    if (page !== undefined) return null;
    // No page: a relative URL stays home, unless it names a host of its own ("//evil.test").
    try {
      parsed = new URL(url, SENTINEL);
    } catch {
      return null;
    }
    if (parsed.origin === SENTINEL) return HOME;
  }
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : null;
}

/** The origin `config` reaches, for a log line: parsed anew, so not for the hot path. */
export function originFor(config: InternalAxiosRequestConfig): string | null {
  const { baseURL: base, url } = config;
  const full =
    base && (config.allowAbsoluteUrls === false || !ABSOLUTE.test(url ?? ''))
      ? combine(base, url)
      : (url ?? '');
  return resolve(full, pageBase());
}

/**
 * Decides which requests get the token (rules 12 and 19), on the URL axios will request: axios'
 * own full-path rules (`baseURL`, `allowAbsoluteUrls`), then WHATWG `URL` (in a browser against
 * the document's base URL), then the origin against the allowed ones. The answer is the origin
 * when allowed, `null` when not. Origins are parsed once per distinct key and remembered, so the
 * check on every request is a regexp test and a map lookup.
 */
/** Which origin a request goes to, `null` when the token must not go there (rule 12). */
export type OriginPolicy = ReturnType<typeof createOriginPolicy>;

export function createOriginPolicy(
  allowedOrigins: readonly (string | RegExp)[] | undefined,
  onUnscopedAbsoluteUrl: (origin: string) => void,
) {
  const origins = new Map<string, string | null>();
  const decisions = new Map<string, boolean>();
  /** Per baseURL: the origin it decides alone, or `undefined` when the URL after it matters. */
  const bases = new Map<string, string | null | undefined>();
  // A document's base URL can change (a <base> element added later): read on every decision,
  // where there is a document. A worker's location never changes.
  const doc = (globalThis as { document?: { baseURI?: unknown } }).document;
  let page = pageBase();
  /** Where a path such as "/x" goes: the page's origin, or home. */
  let pageOrigin = resolve('/', page);
  const look = (): void => {
    const base = doc?.baseURI;
    if (typeof base !== 'string' || base === page) return;
    page = base;
    origins.clear();
    bases.clear();
    pageOrigin = resolve('/', page);
  };

  const originOf = (key: string): string | null => {
    let origin = origins.get(key);
    if (origin === undefined) {
      origin = resolve(key, page);
      // Bounded: a client that puts ids or query strings into absolute URLs must not grow this.
      if (origins.size > 256) origins.clear();
      origins.set(key, origin);
    }
    return origin;
  };

  /** The origin `key` reaches when it is a scheme and an authority followed by nothing that counts. */
  const authorityOf = (key: string): string | null | undefined => {
    const authority = AUTHORITY.exec(key)?.[0];
    if (authority === undefined || authority.endsWith('//')) return undefined;
    const next = key[authority.length];
    return next === undefined || ENDS_AUTHORITY.test(next) ? originOf(authority) : undefined;
  };

  /**
   * The origin of `base` + "/" + anything, when the base decides it alone: the URL goes after the
   * base's authority, or after a path segment of it; `undefined` when it does not.
   */
  const originOfBase = (base: string): string | null | undefined => {
    if (bases.has(base)) return bases.get(base);
    const trimmed = base.replace(/\/+$/, '');
    const origin = authorityOf(trimmed) ?? (PATH.test(trimmed) ? pageOrigin : undefined);
    if (bases.size > 256) bases.clear();
    bases.set(base, origin);
    return origin;
  };

  /** The origin of axios' full path for `url` on `base`, parsing only what decides it. */
  const target = (
    base: string | undefined,
    url: string | undefined,
    allowAbsoluteUrls: boolean | undefined,
  ): string | null => {
    if (base && (allowAbsoluteUrls === false || !ABSOLUTE.test(url ?? ''))) {
      const origin = originOfBase(base);
      return origin !== undefined ? origin : originOf(combine(base, url));
    }
    // The common case first: a path (or no URL) on no baseURL goes where the page is.
    if (!url || PATH.test(url)) return pageOrigin;
    const full = url;
    const origin = authorityOf(full);
    return origin !== undefined ? origin : originOf(full);
  };

  const listed = (origin: string): boolean => {
    let allowed = decisions.get(origin);
    if (allowed === undefined) {
      allowed = (allowedOrigins as readonly (string | RegExp)[]).some((entry) =>
        typeof entry === 'string' ? entry === origin : testRegExp(entry, origin),
      );
      if (decisions.size > 256) decisions.clear();
      decisions.set(origin, allowed);
    }
    return allowed;
  };

  /** The origin `config`, sent through `instance`, reaches if it may carry the token; else `null`. */
  return (config: InternalAxiosRequestConfig, instance: AxiosInstance): string | null => {
    if (doc !== undefined) look();
    const url = config.url;
    const origin = target(
      config.baseURL,
      typeof url === 'string' || url == null ? url : String(url),
      config.allowAbsoluteUrls,
    );
    if (origin === null) return null;
    if (allowedOrigins !== undefined) return origin !== HOME && listed(origin) ? origin : null;
    // Default: where relative URLs go (the page, or home), and the instance's baseURL origin.
    if (origin === pageOrigin) return origin;
    // The instance's baseURL as WHATWG reads it (a leading space or a tab does not hide it).
    const home = instance.defaults.baseURL;
    const homeOrigin = home ? target(home, undefined, true) : null;
    if (homeOrigin !== null && homeOrigin !== pageOrigin)
      return origin === homeOrigin ? origin : null;
    onUnscopedAbsoluteUrl(origin);
    return null;
  };
}

function testRegExp(pattern: RegExp, origin: string): boolean {
  // A global or sticky RegExp keeps lastIndex between tests; start from 0 every time.
  pattern.lastIndex = 0;
  return pattern.test(origin);
}
