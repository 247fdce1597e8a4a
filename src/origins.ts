import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';

// Like axios' own isAbsoluteURL: a scheme followed by "//", or a protocol-relative "//host".
const ABSOLUTE = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/**
 * Decides which requests get the token (rule 12). Origins are parsed once per distinct string and
 * remembered, so the check on every request is a regexp test and a map lookup.
 */
export function createOriginPolicy(
  allowedOrigins: readonly (string | RegExp)[] | undefined,
  onUnscopedAbsoluteUrl: (url: string) => void,
) {
  const origins = new Map<string, string | null>();
  const decisions = new Map<string, boolean>();

  const originOf = (url: string): string | null => {
    let origin = origins.get(url);
    if (origin === undefined) {
      try {
        const parsed = new URL(
          url.startsWith('//') ? `${globalThis.location?.protocol ?? 'https:'}${url}` : url,
        );
        origin = parsed.origin === 'null' ? null : parsed.origin;
      } catch {
        origin = null;
      }
      // Bounded: a client that builds URLs with query strings into baseURL must not grow this.
      if (origins.size > 256) origins.clear();
      origins.set(url, origin);
    }
    return origin;
  };

  const listed = (origin: string | null): boolean => {
    if (origin === null || allowedOrigins === undefined) return false;
    let allowed = decisions.get(origin);
    if (allowed === undefined) {
      allowed = allowedOrigins.some((entry) =>
        typeof entry === 'string' ? entry === origin : testRegExp(entry, origin),
      );
      if (decisions.size > 256) decisions.clear();
      decisions.set(origin, allowed);
    }
    return allowed;
  };

  /** Whether `config`, sent through `instance`, may carry the token. */
  return (config: InternalAxiosRequestConfig, instance: AxiosInstance): boolean => {
    const url = config.url ?? '';
    const base = config.baseURL;
    const absolute = ABSOLUTE.test(url) && config.allowAbsoluteUrls !== false;
    const target = absolute ? url : base && ABSOLUTE.test(base) ? base : undefined;

    if (allowedOrigins !== undefined) {
      const location = globalThis.location?.origin;
      return listed(target === undefined ? (location ?? null) : originOf(target));
    }
    // Default: relative URLs, and the origin of the instance's own baseURL.
    if (target === undefined) return true;
    const home = instance.defaults.baseURL;
    if (!home || !ABSOLUTE.test(home)) {
      if (absolute) onUnscopedAbsoluteUrl(url);
      return false;
    }
    return target === home || originOf(target) === originOf(home);
  };
}

function testRegExp(pattern: RegExp, origin: string): boolean {
  // A global or sticky RegExp keeps lastIndex between tests; start from 0 every time.
  pattern.lastIndex = 0;
  return pattern.test(origin);
}
