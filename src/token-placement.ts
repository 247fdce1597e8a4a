import { AxiosHeaders, type InternalAxiosRequestConfig } from 'axios';
import type { ResolvedOptions } from './options.js';
import { isHeaderSafe } from './token-shape.js';

type Placing = Pick<ResolvedOptions, 'header' | 'scheme' | 'applyToken'>;
type Config = InternalAxiosRequestConfig;
type BeforeRedirect = NonNullable<Config['beforeRedirect']>;
/** What Node's redirect follower hands `beforeRedirect`: the next request's options. */
interface RedirectOptions {
  href?: unknown;
  headers?: Record<string, unknown>;
}

/** On a guard: the placement that made it, the user's hook it calls after its own work, and the
 * token it drops by value (with `applyToken`, which may put the token under any name). */
const OWNER = Symbol('axios-refresh-gate.owner');
const USER_HOOK = Symbol('axios-refresh-gate.beforeRedirect');
const BY_VALUE = Symbol('axios-refresh-gate.token');
type Guard = BeforeRedirect & {
  [OWNER]?: TokenPlacement;
  [USER_HOOK]?: BeforeRedirect | undefined;
  [BY_VALUE]?: string | undefined;
};

const originOfUrl = (url: unknown): string | null => {
  if (typeof url !== 'string') return null;
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
};

/**
 * Takes `guard` out of the chain of `beforeRedirect` hooks that starts at `head`, and returns the
 * new head: another gate's guard may wrap it, when two gates are attached to one instance.
 */
export function unlinkGuard(
  head: BeforeRedirect | undefined,
  guard: BeforeRedirect,
): BeforeRedirect | undefined {
  const own = (guard as Guard)[USER_HOOK];
  if (head === guard) return own;
  for (let hook = head as Guard | undefined; hook?.[OWNER]; hook = hook[USER_HOOK] as Guard) {
    if (hook[USER_HOOK] === guard) {
      hook[USER_HOOK] = own;
      break;
    }
  }
  return head;
}

/** The origin the follower is about to request, or `null` when it cannot be told. */
const redirectOrigin = (options: RedirectOptions): string | null => originOfUrl(options.href);

/**
 * Puts the access token on a request (the header, or the user's `applyToken`) and remembers the
 * token each request was sent with, which is how a late 401 is told from a current one (rule 4).
 */
export class TokenPlacement {
  // A symbol key on the config rather than a WeakMap: one property write per request instead of a
  // WeakMap insert, which profiling showed was most of the gate's own hot-path cost. axios'
  // mergeConfig copies no symbol keys, so a replay's config starts without it, as it should.
  readonly #sent = Symbol('axios-refresh-gate.sent');
  /** The body as the caller gave it, before axios' transformRequest replaced `data`. */
  readonly #body = Symbol('axios-refresh-gate.body');
  /** Which session (count of logouts) the request was sent in. */
  readonly #session = Symbol('axios-refresh-gate.session');

  readonly #options: Placing;
  readonly #headerLower: string;
  /** The header value for the last token placed: built once per token, not once per request. */
  #valueFor: string | null = null;
  #value = '';
  /** The last token found safe to send. */
  #safe: string | undefined;
  /** Whether fetch must not follow redirects: it would keep a header other than Authorization. */
  readonly #fetchKeeps: boolean;

  constructor(options: Placing) {
    this.#options = options;
    this.#headerLower = options.header.toLowerCase();
    this.#fetchKeeps = options.applyToken !== undefined || this.#headerLower !== 'authorization';
  }

  /** Places `token` (`null`: none) on `config` and records it as the token the request carries. */
  place(config: Config, token: string | null, session: number): void {
    // Another interceptor may have replaced the headers with a plain object.
    if (typeof (config.headers as { set?: unknown } | undefined)?.set !== 'function') {
      config.headers = AxiosHeaders.from(config.headers as unknown as Record<string, string>);
    }
    (config as unknown as Record<symbol, string | null>)[this.#sent] = token;
    (config as unknown as Record<symbol, number>)[this.#session] = session;
    if (token === null) return;
    // The last check before a header, whatever path a token came by (a store's object changed in
    // place, a Proxy): one that could inject a header, or is too long for one, is never sent; its
    // 401 then refreshes it like any refused token.
    if (token !== this.#safe) {
      if (!isHeaderSafe(token)) return;
      this.#safe = token;
    }
    this.#guardRedirects(config, token);
    const { applyToken, header, scheme } = this.#options;
    if (applyToken) {
      applyToken(config, token);
      return;
    }
    if (token !== this.#valueFor) {
      this.#valueFor = token;
      this.#value = scheme ? `${scheme} ${token}` : token;
    }
    const headers = config.headers;
    if (this.#assignable(headers))
      (headers as unknown as Record<string, string>)[header] = this.#value;
    else headers.set(header, this.#value);
  }

  /**
   * Rule 19, for an instance: a `beforeRedirect` for its defaults, so that every request carries
   * the guard from axios' own config merge (a property added to each request would cost more than
   * the rest of the hot path). `allows` tells the origins the gate gives the token to.
   */
  guardFor(user: BeforeRedirect | undefined, allows: (origin: string) => boolean): BeforeRedirect {
    return this.#guard(user, undefined, allows);
  }

  /**
   * Rule 20: keeps the body as the caller gave it. axios' transformRequest writes what it sends
   * back into `config.data` (JSON text, a multipart stream for `postForm`), which a replay would
   * transform again; the replay is sent from the caller's body instead.
   */
  keepBody(config: Config): void {
    if (config.data !== undefined)
      (config as unknown as Record<symbol, unknown>)[this.#body] = config.data;
  }

  /** The body to replay `config` with: the caller's, with the length of the first attempt's dropped. */
  restoreBody(config: Config): void {
    const record = config as unknown as Record<symbol, unknown>;
    if (!(this.#body in record)) return;
    config.data = record[this.#body];
    config.headers?.delete?.('content-length');
  }

  /** The body the caller gave `config` (what a replay sends). */
  bodyOf(config: Config): unknown {
    const record = config as unknown as Record<symbol, unknown>;
    return this.#body in record ? record[this.#body] : config.data;
  }

  /** A request the gate leaves alone (rule 12) gets the user's own redirect hook back. */
  unguard(config: Config): void {
    const hook = config.beforeRedirect as Guard | undefined;
    if (hook?.[OWNER] === this)
      (config as { beforeRedirect?: unknown }).beforeRedirect = hook[USER_HOOK];
  }

  /**
   * Rule 19: a redirect to another origin never carries the token. Node's http adapter follows
   * redirects and calls `beforeRedirect`, where the guard drops the gate's header (or, with
   * `applyToken`, every header holding the token) before the user's own hook runs; the fetch
   * adapter is told not to follow redirects when it would keep the header.
   */
  #guardRedirects(config: Config, token: string): void {
    const hook = config.beforeRedirect as Guard | undefined;
    const byValue = this.#options.applyToken === undefined ? undefined : token;
    if (hook?.[OWNER] !== this || hook[BY_VALUE] !== byValue) {
      // Not the instance's guard: a hook of the request's own, or one for an older token.
      const user = hook?.[OWNER] === this ? hook[USER_HOOK] : hook;
      config.beforeRedirect = this.#guard(user, byValue, undefined);
    }
    if (this.#fetchKeeps && config.fetchOptions?.redirect === undefined) {
      config.fetchOptions = { ...config.fetchOptions, redirect: 'error' };
    }
  }

  /**
   * A guard: it keeps the header on a redirect to the origin of the request redirected, as axios
   * and Node's follower report it. An older axios reports no request: then the instance's guard
   * keeps it on a redirect to an origin the gate allows, and a request's own guard drops it.
   */
  #guard(
    user: BeforeRedirect | undefined,
    byValue: string | undefined,
    allows: ((origin: string) => boolean) | undefined,
  ): Guard {
    const guard: Guard = (options, response, request) => {
      const redirect = options as RedirectOptions;
      const to = redirectOrigin(redirect);
      const from = originOfUrl((request as { url?: unknown } | undefined)?.url);
      const keep = to !== null && (from !== null ? to === from : !!allows?.(to));
      if (!keep) this.#strip(redirect.headers, byValue);
      // Read at each call: detach() may unlink a gate's guard from the middle of the chain.
      guard[USER_HOOK]?.(options, response, request);
    };
    guard[OWNER] = this;
    guard[USER_HOOK] = user;
    guard[BY_VALUE] = byValue;
    return guard;
  }

  /** Drops the gate's header, in any spelling, and with `applyToken` any header with the token. */
  #strip(headers: Record<string, unknown> | undefined, token: string | undefined): void {
    if (!headers) return;
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (
        name.toLowerCase() === this.#headerLower ||
        (token !== undefined && String(Array.isArray(value) ? value.join() : value).includes(token))
      ) {
        delete headers[name];
      }
    }
  }

  /** The session `config` was sent in, if the gate placed it. */
  sessionOf(config: object): number | undefined {
    return (config as unknown as Record<symbol, number | undefined>)[this.#session];
  }

  /** The token `config` was sent with: `null` for none, `undefined` when the gate did not see it. */
  sentWith(config: object): string | null | undefined {
    return (config as unknown as Record<symbol, string | null | undefined>)[this.#sent];
  }

  /**
   * Whether assigning the header as a property does what `headers.set` would: it is already there
   * under this exact name (and not `false`, which `set` keeps), or under no other spelling. Most of
   * `set`'s cost is normalizing and re-validating a name and value that were checked up front.
   */
  #assignable(headers: InternalAxiosRequestConfig['headers']): boolean {
    const { header } = this.#options;
    const current = (headers as unknown as Record<string, unknown>)[header];
    if (current === false || (current !== undefined && !Object.hasOwn(headers, header))) {
      return false;
    }
    for (const key of Object.keys(headers)) {
      if (key !== header && key.length === header.length && key.toLowerCase() === this.#headerLower)
        return false;
    }
    return true;
  }
}
