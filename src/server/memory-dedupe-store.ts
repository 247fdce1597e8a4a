import type { DedupeClaim, DedupeStore } from './dedupe-store.js';
import { watchers } from './watchers.js';

type Entry =
  | { state: 'pending'; token: string; expiresAt: number }
  | { state: 'done'; value: unknown; expiresAt: number };

/** How often expired entries are swept while any exist. */
const SWEEP_MS = 1_000;

/**
 * The deduper's default store: one server process, in memory. Expired entries are dropped when
 * read, and swept every second by an unref'd timer that runs only while entries exist, so an
 * idle server holds nothing and the timer never keeps a process alive. A claim's `renew`,
 * `fulfil` and `abandon` do nothing once its lease ended. `dispose()` forgets all.
 *
 * @example
 * ```ts
 * const deduper = createRefreshDeduper({ store: memoryDedupeStore() });
 * ```
 */
export function memoryDedupeStore(): DedupeStore & { readonly size: number; dispose(): void } {
  const entries = new Map<string, Entry>();
  const { watch, notify, clear } = watchers();
  let sweeper: ReturnType<typeof setInterval> | undefined;
  // Tokens need to be unique within this store only: a count does.
  let claims = 0;

  const sweep = () => {
    const now = Date.now();
    for (const [hash, entry] of entries) if (entry.expiresAt <= now) entries.delete(hash);
    if (entries.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  const put = (hash: string, entry: Entry) => {
    entries.set(hash, entry);
    if (sweeper === undefined) {
      sweeper = setInterval(sweep, SWEEP_MS);
      sweeper.unref?.();
    }
  };
  const live = (hash: string): Entry | undefined => {
    const entry = entries.get(hash);
    if (entry && entry.expiresAt <= Date.now()) {
      entries.delete(hash);
      return undefined;
    }
    return entry;
  };
  /** The entry of claim `token`, while it holds. */
  const held = (hash: string, token: string) => {
    const entry = live(hash);
    return entry?.state === 'pending' && entry.token === token ? entry : undefined;
  };

  return {
    get size() {
      sweep();
      return entries.size;
    },
    async claim(hash, leaseMs): Promise<DedupeClaim> {
      const entry = live(hash);
      if (entry?.state === 'done') return { state: 'done', value: entry.value };
      if (entry?.state === 'pending') return { state: 'busy' };
      const token = String(++claims);
      put(hash, { state: 'pending', token, expiresAt: Date.now() + leaseMs });
      return { state: 'claimed', token };
    },
    async renew(hash, token, leaseMs) {
      const entry = held(hash, token);
      if (entry) entry.expiresAt = Date.now() + leaseMs;
      return !!entry;
    },
    async fulfil(hash, token, value, graceMs) {
      // A claim that expired, was abandoned or was taken by another caller since stores nothing.
      if (!held(hash, token)) return;
      if (graceMs > 0) put(hash, { state: 'done', value, expiresAt: Date.now() + graceMs });
      else entries.delete(hash);
      notify(hash);
    },
    async abandon(hash, token) {
      if (held(hash, token)) entries.delete(hash);
      notify(hash);
    },
    watch,
    dispose() {
      entries.clear();
      clear();
      clearInterval(sweeper);
      sweeper = undefined;
    },
  };
}
