import { AxiosHeaders, type InternalAxiosRequestConfig } from 'axios';
import type { ResolvedOptions } from './options.js';

type Placing = Pick<ResolvedOptions, 'header' | 'scheme' | 'applyToken'>;

/**
 * Puts the access token on a request (the header, or the user's `applyToken`) and remembers the
 * token each request was sent with, which is how a late 401 is told from a current one (rule 4).
 */
export class TokenPlacement {
  // A symbol key on the config rather than a WeakMap: one property write per request instead of a
  // WeakMap insert, which profiling showed was most of the gate's own hot-path cost. axios'
  // mergeConfig copies no symbol keys, so a replay's config starts without it, as it should.
  readonly #sent = Symbol('axios-refresh-gate.sent');
  /** Which session (count of logouts) the request was sent in. */
  readonly #session = Symbol('axios-refresh-gate.session');
  readonly #options: Placing;
  readonly #headerLower: string;
  /** The header value for the last token placed: built once per token, not once per request. */
  #valueFor: string | null = null;
  #value = '';

  constructor(options: Placing) {
    this.#options = options;
    this.#headerLower = options.header.toLowerCase();
  }

  /** Places `token` (`null`: none) on `config` and records it as the token the request carries. */
  place(config: InternalAxiosRequestConfig, token: string | null, session: number): void {
    // Another interceptor may have replaced the headers with a plain object.
    if (typeof (config.headers as { set?: unknown } | undefined)?.set !== 'function') {
      config.headers = AxiosHeaders.from(config.headers as unknown as Record<string, string>);
    }
    (config as unknown as Record<symbol, string | null>)[this.#sent] = token;
    (config as unknown as Record<symbol, number>)[this.#session] = session;
    if (token === null) return;
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
