/**
 * What a store answers to a claim: this caller may rotate (`claimed`, with the token that proves
 * it later), the rotation already happened and its result is `value` (`done`), or another caller
 * is rotating right now (`busy`).
 */
export type DedupeClaim =
  | { readonly state: 'claimed'; readonly token: string }
  | { readonly state: 'done'; readonly value: unknown }
  | { readonly state: 'busy' };

/**
 * Where a {@link createRefreshDeduper} keeps the rotations in flight and their results, by the
 * SHA-256 of the key (never the key itself). The default keeps them in memory, for one server
 * process; {@link redisDedupeStore} shares them between server instances.
 *
 * A claim is a lease: it ends `leaseMs` after it was taken or last renewed, and every write that
 * names a claim (`renew`, `fulfil`, `abandon`) does nothing once its `token` no longer holds it
 * (expired, abandoned, or taken by another caller since).
 *
 * @example
 * ```ts
 * const deduper = createRefreshDeduper({ store: memoryDedupeStore() });
 * ```
 */
export interface DedupeStore {
  /** Takes the right to rotate for `hash` for `leaseMs`, or says what is there. */
  claim(hash: string, leaseMs: number): Promise<DedupeClaim>;
  /** Extends the claim to `leaseMs` from now if `token` still holds it; resolves whether it did. */
  renew(hash: string, token: string, leaseMs: number): Promise<boolean>;
  /**
   * Keeps `value` for `graceMs` if the claim `token` still holds, and wakes the watchers; a claim
   * that expired or was abandoned stores nothing.
   */
  fulfil(hash: string, token: string, value: unknown, graceMs: number): Promise<void>;
  /** Drops the claim after a failed rotation (failures are never kept), and wakes the watchers. */
  abandon(hash: string, token: string): Promise<void>;
  /** Calls `onChange` when the entry for `hash` may have changed. Returns the function that stops it. */
  watch(hash: string, onChange: () => void): () => void;
  /** Forgets everything and stops timers and connections. */
  dispose?(): void;
}
