/**
 * A typed event emitter for one gate. A listener that throws is reported, never rethrown; an event
 * raised inside a listener goes out once the current one has reached every listener, so every
 * listener sees events in the order they happened.
 */
export class Emitter<Events> {
  // Made on first use: a group's thousands of idle gates listen to nothing.
  #listeners: Map<keyof Events, Set<(payload: never) => void>> | undefined;
  #pending: Array<[keyof Events, unknown]> | undefined;
  #emitting = false;
  /** Bumped by clear(): a listener that destroyed the gate stops the delivery under way. */
  #generation = 0;
  readonly #onError: (event: keyof Events, error: unknown) => void;

  constructor(onError: (event: keyof Events, error: unknown) => void) {
    this.#onError = onError;
  }

  on<E extends keyof Events>(event: E, listener: (payload: Events[E]) => void): () => void {
    this.#listeners ??= new Map();
    const listeners = this.#listeners;
    let set = listeners.get(event);
    if (!set) {
      set = new Set();
      listeners.set(event, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && listeners.get(event) === set) listeners.delete(event);
    };
  }

  emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    const listeners = this.#listeners;
    if (!listeners?.has(event)) return;
    this.#pending ??= [];
    const pending = this.#pending;
    pending.push([event, payload]);
    if (this.#emitting) return;
    this.#emitting = true;
    try {
      for (let next = pending.shift(); next; next = pending.shift()) {
        const [name, data] = next;
        const set = this.#listeners?.get(name);
        if (!set) continue;
        const generation = this.#generation;
        for (const listener of [...set]) {
          if (generation !== this.#generation) return;
          try {
            (listener as (payload: unknown) => void)(data);
          } catch (error) {
            this.#onError(name, error);
          }
        }
      }
    } finally {
      this.#emitting = false;
    }
  }

  /** Whether anyone listens to anything. */
  get listening(): boolean {
    return (this.#listeners?.size ?? 0) > 0;
  }

  clear(): void {
    this.#generation++;
    this.#listeners?.clear();
    if (this.#pending) this.#pending.length = 0;
  }
}
