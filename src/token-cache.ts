import { RefreshGateError } from './errors.js';
import { badField } from './token-shape.js';
import type { TokenStore, Tokens } from './types.js';

export const isThenable = <T>(value: unknown): value is PromiseLike<T> =>
  typeof (value as PromiseLike<T> | null)?.then === 'function';

const ignore = () => {};
const isLockLost = (error: unknown) => (error as { code?: unknown } | null)?.code === 'LOCK_LOST';
/** The gate's failed write: whatever the store shows is what the gate's word replaced. */
const ANY = Symbol('any');

/**
 * What the gate knows of the tokens, in front of the store.
 *
 * - A synchronous store is read on every request: it is the truth (a Redux store, say, that other
 *   code also writes). An asynchronous one is read once; after that the gate serves the tokens it
 *   read, set, obtained or was told of, and reads the store again only under the refresh lock.
 * - The gate's own word is kept at once ({@link use}); its writes reach the store one after the
 *   other ({@link persist}), so a later write is never overtaken by an earlier one, and while one
 *   is under way the gate serves its own tokens rather than what the store still shows.
 * - A store shared through a channel of its own can show a change later than the coordinator
 *   announces it (localStorage reaches other tabs on its own schedule; a peer's login and logout
 *   land one after the other). Announcements come in order, so the tokens heard last are current
 *   while the store still shows what it showed before, or anything heard before them; a store
 *   showing something else has moved on past them.
 */
export class TokenCache {
  readonly #store: TokenStore;
  #tokens: Tokens | null = null;
  /** `#tokens` is the truth for an async store: read, seeded, set, obtained or heard. */
  #known = false;
  #async = false;
  #loading: Promise<Tokens | null> | undefined;
  /** The gate's writes under way, and the last one (the next waits for it). */
  #writes = 0;
  #lastWrite: Promise<unknown> = Promise.resolve();
  /**
   * The gate's last write failed: while the store still shows this access token (what the gate's
   * word replaced), the gate keeps its word; once the store shows anything else, someone wrote it
   * and the store is followed again. `undefined`: not behind.
   */
  #behind: string | null | typeof ANY | undefined;
  #closed = false;
  #echo: { readonly token: string | null } | undefined;
  /** The access token the store answered last (`undefined` before any answer). */
  #storeShows: string | null | undefined;
  #ahead: { tokens: Tokens | null; stale: Set<string | null> } | undefined;
  /** The last object the store gave that was checked to be tokens, and its access token then. */
  #checked: unknown;
  #checkedToken: unknown;

  readonly #loaded: () => void;

  constructor(store: TokenStore, loaded: () => void = () => {}) {
    this.#store = store;
    this.#loaded = loaded;
  }

  /** The tokens to use now, or the promise of an async store's first read. Throws what a sync store throws. */
  read(): Tokens | null | Promise<Tokens | null> {
    if (this.#async) return this.#known ? this.#tokens : this.#load();
    if (this.#writes > 0) return this.#tokens;
    const value = this.#store.get();
    if (isThenable<Tokens | null>(value)) return this.#firstAsync(value);
    if (this.#stillBehind(value ?? null)) return this.#tokens;
    this.#tokens = this.#fromStore(value ?? null);
    return this.#tokens;
  }

  /** The tokens to use without waiting or failing: for the refresh call itself. */
  peek(): Tokens | null {
    if (this.#async || this.#writes > 0) return this.#tokens;
    let value: Tokens | null | Promise<Tokens | null>;
    try {
      value = this.#store.get();
    } catch {
      return this.#tokens;
    }
    if (!isThenable<Tokens | null>(value)) {
      if (this.#stillBehind(value ?? null)) return this.#tokens;
      this.#tokens = this.#fromStore(value ?? null);
      return this.#tokens;
    }
    // Nobody waits for this read; its failure is the next reader's to see, never unhandled.
    const read = this.#firstAsync(value);
    if (isThenable(read)) read.then(undefined, ignore);
    return this.#tokens;
  }

  /**
   * The store itself, once every write of this gate has reached it: under the refresh lock, where
   * another tab or process may have refreshed meanwhile (double-check). It changes nothing: the
   * flight that asked decides, if it was not superseded meanwhile.
   */
  async readFresh(): Promise<Tokens | null> {
    await this.#lastWrite.then(undefined, ignore);
    const value = (await this.#store.get()) ?? null;
    // The store refused the gate's last word (a logout, say): what it shows is not news.
    const behind = this.#behind;
    if (behind === ANY || (behind !== undefined && (value?.accessToken ?? null) === behind))
      return this.#tokens;
    return this.#fromStore(value);
  }

  /** The access token without reading: `undefined` while an async store's first read is due. */
  knownToken(): string | null | undefined {
    const token = this.peek()?.accessToken ?? null;
    return this.#async && !this.#known ? undefined : token;
  }

  /**
   * What this cache knows of an async store, for a parked gate's next machine (which then serves
   * it as this one would, without a first read); `undefined` for a sync store, or before any read.
   */
  memory(): { readonly tokens: Tokens | null } | undefined {
    return this.#async && this.#known ? { tokens: this.#tokens } : undefined;
  }

  /** Goes on from a parked gate's {@link memory}. */
  restore(memory: { readonly tokens: Tokens | null }): void {
    this.#async = true;
    this.use(memory.tokens);
  }

  /** The gate's own word (a login, a logout, a refresh that was stored): in force at once. */
  use(tokens: Tokens | null): void {
    this.#tokens = tokens;
    this.#known = true;
  }

  /** Writes `tokens` (`null`: clears) after the gate's earlier writes; rejects as the store does. */
  persist(tokens: Tokens | null): Promise<void> {
    const write = () => {
      if (this.#closed) throw new RefreshGateError('DESTROYED', 'the refresh gate was destroyed');
      // A store that tells its subscribers of this very write, synchronously, is not news.
      this.#echo = { token: tokens?.accessToken ?? null };
      try {
        return tokens === null ? this.#store.clear() : this.#store.set(tokens);
      } finally {
        this.#echo = undefined;
      }
    };
    let written: unknown;
    try {
      written = this.#writes > 0 ? this.#lastWrite.then(write, write) : write();
    } catch (error) {
      this.#fellBehind();
      return Promise.reject(error);
    }
    if (!isThenable(written)) {
      this.#wrote(tokens);
      return Promise.resolve();
    }
    this.#writes++;
    const done = Promise.resolve(written).then(
      () => {
        this.#writes--;
        if (this.#lastWrite === done) this.#wrote(tokens);
      },
      (error: unknown) => {
        this.#writes--;
        // A fenced write refused (another member holds the lock): the store shows its word.
        if (this.#lastWrite === done && !isLockLost(error)) this.#fellBehind();
        throw error;
      },
    );
    this.#lastWrite = done;
    return done;
  }

  /** Whether the store is reporting the write this gate is making right now. */
  isEcho(tokens: Tokens | null): boolean {
    return this.#echo !== undefined && this.#echo.token === (tokens?.accessToken ?? null);
  }

  /** Tokens another member of the scope announced (`null`: it logged out). */
  heard(tokens: Tokens | null): void {
    // What does the store show now? A synchronous store says at once; otherwise its last answer.
    if (!this.#async) {
      try {
        const value = this.#store.get();
        if (isThenable(value)) value.then(undefined, ignore);
        else this.#storeShows = value?.accessToken ?? null;
      } catch {
        // The next read reports it.
      }
    }
    const previous = this.#ahead;
    const stale = new Set(previous?.stale);
    if (previous) stale.add(previous.tokens?.accessToken ?? null);
    if (this.#storeShows !== undefined) stale.add(this.#storeShows);
    // What the gate held until now is older than this announcement, even if the store never
    // showed it to this gate (a peer's login and logout, one right after the other).
    if (this.#known) stale.add(this.#tokens?.accessToken ?? null);
    stale.delete(tokens?.accessToken ?? null);
    // Bounded: only the last few words can still be on their way to the store.
    if (stale.size > 8) stale.delete(stale.values().next().value as string | null);
    this.use(tokens);
    this.#ahead = stale.size > 0 ? { tokens, stale } : undefined;
    // Someone else wrote the store: the gate's failed write is no longer what it shows.
    this.#behind = undefined;
  }

  /** Nothing under way or owed: no write, no first read, no store that lags or leads the gate. */
  get settled(): boolean {
    return (
      this.#writes === 0 &&
      this.#loading === undefined &&
      this.#behind === undefined &&
      this.#ahead === undefined
    );
  }

  /** Writes still queued are dropped: nothing is stored after destroy(). */
  close(): void {
    this.#closed = true;
  }

  #wrote(tokens: Tokens | null): void {
    this.#storeShows = tokens?.accessToken ?? null;
    this.#ahead = undefined;
    this.#behind = undefined;
  }

  /** The gate's write failed: note what the store shows now (what the gate's word replaced). */
  #fellBehind(): void {
    // An async store cannot be asked now, and what it last answered may predate writes of this
    // gate that landed since: nothing it shows is news until the gate hears or writes again.
    let shows: string | null | typeof ANY = ANY;
    if (!this.#async) {
      try {
        const value = this.#store.get();
        if (isThenable(value)) value.then(undefined, ignore);
        else shows = value?.accessToken ?? null;
      } catch {
        // Nothing known of what it shows.
      }
    }
    this.#behind = shows;
  }

  /** Whether a sync store still shows what the gate's failed write meant to replace. */
  #stillBehind(value: Tokens | null): boolean {
    if (this.#behind === undefined) return false;
    if (this.#behind === ANY || (value?.accessToken ?? null) === this.#behind) return true;
    this.#behind = undefined; // someone wrote the store since: follow it
    return false;
  }

  #firstAsync(value: PromiseLike<Tokens | null>): Tokens | null | Promise<Tokens | null> {
    this.#async = true;
    // Tokens seeded, set or obtained before this first read are newer than what it answers.
    if (this.#known) {
      value.then(undefined, ignore);
      return this.#tokens;
    }
    return this.#load(value);
  }

  #load(first?: PromiseLike<Tokens | null>): Promise<Tokens | null> {
    this.#loading ??= new Promise<Tokens | null>((resolve) =>
      resolve(first ?? this.#store.get()),
    ).then(
      (tokens) => {
        this.#loading = undefined;
        // Tokens set, obtained or heard while the read was under way are newer than what it read.
        if (!this.#known) {
          this.use(this.#fromStore(tokens ?? null));
          queueMicrotask(this.#loaded);
        }
        return this.#tokens;
      },
      (error: unknown) => {
        this.#loading = undefined;
        throw error;
      },
    );
    return this.#loading;
  }

  /** What the store answered, unless it still lags behind tokens announced elsewhere. */
  #fromStore(read: Tokens | null): Tokens | null {
    // What a store of the app's own holds may be anything: what is not tokens is none.
    const value =
      (read === this.#checked && read?.accessToken === this.#checkedToken) ||
      (typeof read === 'object' && (read === null || badField(read as never) === undefined))
        ? read
        : null;
    if (value !== null) {
      this.#checked = value;
      this.#checkedToken = value.accessToken;
    }
    const token = value?.accessToken ?? null;
    this.#storeShows = token;
    const ahead = this.#ahead;
    if (ahead) {
      if (ahead.stale.has(token)) return ahead.tokens;
      // In step with what was heard last, or moved on past it: the store leads again.
      this.#ahead = undefined;
    }
    return value;
  }
}
