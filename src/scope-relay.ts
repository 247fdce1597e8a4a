import type { Clock } from './clock.js';
import type { Coordinator, TokenStore, Tokens } from './types.js';

type Listener = (tokens: Tokens | null) => void;

/** A word of the scope a parked gate heard, and when (its token's life counts from then). */
export interface HeardWord {
  readonly tokens: Tokens | null;
  /** Wall-clock and monotonic ms when it was heard. */
  readonly now: number;
  readonly elapsed: number;
}

/** A parked gate keeps the scope's last words; what falls out of them is still counted. */
const KEPT = 16;

/**
 * A gate's subscriptions to its store and coordinator, made once and handed from machine to
 * machine: a group's gate that parks keeps them (recording what is said while no machine is
 * there) and its next machine takes them over. Never unsubscribing and subscribing again on the
 * way means no word falls in between: not one a scope is delivering right then (it delivers to
 * the listeners it had when it began), and not one a Redis subscriber connection, closed with its
 * last channel, would miss while it opens again.
 */
export class ScopeRelay {
  readonly #clock: Clock;
  readonly #stops: Array<() => void> = [];
  #fromStore: Listener | undefined;
  #fromCoordinator: Listener | undefined;
  /** While parked: the words heard, and what fell out of them. */
  #heard: HeardWord[] | undefined;
  #logoutsMissed = 0;
  #tokensMissed = false;

  constructor(store: TokenStore, coordinator: Coordinator, clock: Clock) {
    this.#clock = clock;
    try {
      if (store.subscribe) this.#stops.push(store.subscribe((tokens) => this.#word(tokens, true)));
      if (coordinator.subscribe)
        this.#stops.push(coordinator.subscribe((tokens) => this.#word(tokens, false)));
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  /** Whether there is anything to hear (a store or coordinator with `subscribe`). */
  get listening(): boolean {
    return this.#stops.length > 0;
  }

  /** The machine that hears from now on: the store's words, and the coordinator's. */
  attach(fromStore: Listener, fromCoordinator: Listener): void {
    this.#fromStore = fromStore;
    this.#fromCoordinator = fromCoordinator;
  }

  /** No machine for now: words are kept for the next one. */
  park(): void {
    this.#fromStore = undefined;
    this.#fromCoordinator = undefined;
    this.#heard = [];
    this.#logoutsMissed = 0;
    this.#tokensMissed = false;
  }

  /** What was said while parked, for the next machine (after it attached). */
  take(): { heard: HeardWord[]; logoutsMissed: number; tokensMissed: boolean } {
    const taken = {
      heard: this.#heard ?? [],
      logoutsMissed: this.#logoutsMissed,
      tokensMissed: this.#tokensMissed,
    };
    this.#heard = undefined;
    return taken;
  }

  stop(): void {
    this.#fromStore = undefined;
    this.#fromCoordinator = undefined;
    this.#heard = undefined;
    for (const stop of this.#stops.splice(0)) {
      try {
        stop();
      } catch {
        // Nothing more to hear either way.
      }
    }
  }

  #word(tokens: Tokens | null, fromStore: boolean): void {
    const heard = this.#heard;
    if (!heard) {
      (fromStore ? this.#fromStore : this.#fromCoordinator)?.(tokens);
      return;
    }
    heard.push({ tokens, now: this.#clock.now(), elapsed: this.#clock.elapsed() });
    if (heard.length <= KEPT) return;
    const { tokens: out } = heard.shift() as HeardWord;
    if (out === null) this.#logoutsMissed++;
    else this.#tokensMissed = true;
  }
}
