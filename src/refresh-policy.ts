import type { Clock } from './clock.js';
import { forLog } from './logger.js';
import type { ResolvedOptions } from './options.js';
import type { Tokens } from './types.js';

type Policy = Pick<
  ResolvedOptions,
  'getExpiry' | 'refreshBeforeExpiryMs' | 'cooldownMs' | 'logger' | 'clockSkew'
>;

/** How usable a token is now: send it, refresh ahead of time (rule 10), or never send it (rule 6). */
export type Freshness = 'fresh' | 'expiring' | 'expired';

/** How the gate got a token: its own refresh, the store under the lock, or a peer's announcement. */
export type Arrival = 'refreshed' | 'adopted' | 'heard';

/** The token this gate saw arrive last. */
export interface Obtained {
  readonly token: string;
  /** Obtained by a refresh (this gate's or, under the lock, a peer's): the loop guard watches it. */
  readonly young: boolean;
  /** When it arrived, on the monotonic clock. */
  readonly since: number;
  readonly expiry: number | undefined;
  /** How long before its expiry to refresh it: the window, or half its lifetime if shorter. */
  readonly window: number;
  /** A response to a request sent with it was not a refresh trigger: the server takes it. */
  accepted: boolean;
}

/** What a policy knows of the tokens it saw, carried over to a parked gate's next machine. */
export interface PolicyMemory {
  readonly obtained: Obtained | null;
  readonly known: string | null | undefined;
  readonly unjudged: string | undefined;
}

/**
 * When to refresh. Two guards keep short-lived tokens working without letting a server that
 * refuses every token cause a loop (rule 6):
 * - a token past its own expiry is never sent and its 401 always refreshes, whatever its age;
 * - a 401 for the token just obtained, not yet accepted by any response and not expired, is the
 *   server refusing fresh tokens: it is handed to the caller (for `cooldownMs`), not refreshed for.
 * A token obtained with less life than `refreshBeforeExpiryMs` is refreshed halfway through it,
 * not before every request.
 */
export class RefreshPolicy {
  readonly #options: Policy;
  readonly #clock: Clock;
  // getExpiry decoded once per token, not once per request: stores may hand out a fresh object
  // with the same token every time.
  #memoFor: Tokens | null = null;
  #memo: number | undefined;
  #memoSkew = 0;
  #obtained: Obtained | null = null;
  /** The access token this gate knew last: used, obtained or set (`undefined`: none yet). */
  #known: string | null | undefined;

  #unjudged: string | undefined;

  constructor(options: Policy, clock: Clock, memory?: PolicyMemory) {
    this.#options = options;
    this.#clock = clock;
    if (memory) {
      this.#obtained = memory.obtained;
      this.#known = memory.known;
      this.#unjudged = memory.unjudged;
    }
  }

  /** What a next policy needs to judge as this one would (its memos are made again). */
  memory(): PolicyMemory {
    return { obtained: this.#obtained, known: this.#known, unjudged: this.#unjudged };
  }

  freshness(tokens: Tokens): Freshness {
    const expiry = this.#expiryOf(tokens);
    if (expiry === undefined) return 'fresh';
    const left = expiry - this.#clock.now();
    if (left <= 0)
      return tokens.accessToken === this.#unjudged && !this.#options.clockSkew?.sampled
        ? 'fresh'
        : 'expired';
    const obtained = this.#obtained;
    const window =
      obtained !== null && obtained.token === tokens.accessToken
        ? obtained.window
        : this.#options.refreshBeforeExpiryMs;
    return left <= window ? 'expiring' : 'fresh';
  }

  /**
   * Tokens that just arrived. A peer's announcement may be a login elsewhere, so it is not young:
   * only its lifetime counts.
   */
  obtained(
    tokens: Tokens,
    arrival: Arrival,
    /** When it arrived (a parked gate's next machine hears later what was said meanwhile). */
    at?: { readonly now: number; readonly elapsed: number },
  ): void {
    // An echo of the token already seen changes nothing; a refresh that hands back the same token
    // (one the server refuses, say) makes it young again.
    if (arrival === 'heard' && this.#obtained?.token === tokens.accessToken) return;
    this.#known = tokens.accessToken;
    const now = at?.now ?? this.#clock.now();
    const expiry = this.#expiryOf(tokens);
    const life = expiry === undefined ? 0 : expiry - now;
    this.#obtained = {
      token: tokens.accessToken,
      young: arrival !== 'heard',
      since: at?.elapsed ?? this.#clock.elapsed(),
      expiry,
      window: Math.min(this.#options.refreshBeforeExpiryMs, life / 2),
      accepted: false,
    };
  }

  /**
   * A token about to be used. One that replaced, in the store, the token this gate knew (another
   * member wrote it, and its announcement is still on its way) counts as heard now: its window
   * comes from the life it has left, so a short-lived token a peer has just obtained is not
   * refreshed again at once. The first token read, and the app's own, keep the full window.
   */
  seen(tokens: Tokens): void {
    const known = this.#known;
    const token = tokens.accessToken;
    if (known === token || this.#obtained?.token === token) return;
    this.#known = token;
    if (known === undefined) return;
    const expiry = this.#expiryOf(tokens);
    const last = this.#obtained?.expiry;
    // An older token than the one obtained last (a store lagging behind): nothing to learn.
    if (last !== undefined && (expiry === undefined || expiry < last)) return;
    this.obtained(tokens, 'heard');
  }

  /** A response to a request sent with `token` did not ask for a refresh. */
  accepted(token: string | null | undefined): void {
    const obtained = this.#obtained;
    if (obtained !== null && obtained.token === token) obtained.accepted = true;
  }

  /** The loop guard: whether a 401 for `token` is the server refusing a token just obtained. */
  refuses(token: string): boolean {
    const obtained = this.#obtained;
    if (obtained === null || !obtained.young || obtained.token !== token || obtained.accepted)
      return false;
    // Past its expiry the server is right to refuse it; an unjudged one's expiry is not known yet.
    const unjudged = token === this.#unjudged && !this.#options.clockSkew?.sampled;
    if (!unjudged && obtained.expiry !== undefined && obtained.expiry <= this.#clock.now())
      return false;
    return this.#clock.elapsed() - obtained.since < this.#options.cooldownMs;
  }

  /**
   * A token a refresh just brought that looks expired before the server's clock was ever read:
   * this clock is what is wrong. Sent until a response tells the server's time.
   */
  unjudged(token: string): void {
    this.#unjudged = token;
  }

  /** A login or logout (the app's own word, `token`): nothing obtained before counts any more. */
  reset(token: string | null): void {
    this.#obtained = null;
    this.#known = token;
  }

  #expiryOf(tokens: Tokens): number | undefined {
    const seen = this.#memoFor;
    // The skew estimate moves a JWT's expiry: decoded again when it changed.
    const skew = this.#options.clockSkew?.offset ?? 0;
    if (
      skew !== this.#memoSkew ||
      (tokens !== seen &&
        (seen === null ||
          tokens.accessToken !== seen.accessToken ||
          tokens.expiresAt !== seen.expiresAt))
    ) {
      this.#memoSkew = skew;
      this.#memoFor = tokens;
      try {
        this.#memo = this.#options.getExpiry(tokens);
      } catch (error) {
        this.#memo = undefined;
        this.#options.logger.warn(
          'getExpiry threw; treating the expiry as unknown',
          forLog(error, [tokens.accessToken, tokens.refreshToken]),
        );
      }
    }
    return this.#memo;
  }
}
