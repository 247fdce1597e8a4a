import { randomUUID } from 'node:crypto';
import type { DedupeClaim, DedupeStore } from './dedupe-store.js';

type Entry =
  | { state: 'pending'; token: string; expiresAt: number }
  | { state: 'done'; value: unknown; expiresAt: number };

/** How often expired entries are swept while any exist. */
const SWEEP_MS = 1_000;

/**
 * The deduper's default store: one server process, in memory. Expired entries are dropped when
 * read, and swept every second by an unref'd timer that runs only while entries exist, so an
 * idle server holds nothing and the timer never keeps a process alive. `dispose()` forgets all.
 *
 * @example
 * ```ts
 * const deduper = createRefreshDeduper({ store: memoryDedupeStore() });
 * ```
 */
export function memoryDedupeStore(): DedupeStore & { readonly size: number } {
  const entries = new Map<string, Entry>();
  const watchers = new Map<string, Set<() => void>>();
  let sweeper: ReturnType<typeof setInterval> | undefined;

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
  const notify = (hash: string) => {
    for (const onChange of [...(watchers.get(hash) ?? [])]) onChange();
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
      const token = randomUUID();
      put(hash, { state: 'pending', token, expiresAt: Date.now() + leaseMs });
      return { state: 'claimed', token };
    },
    async fulfil(hash, token, value, graceMs) {
      const entry = live(hash);
      // A claim that expired and was taken by another caller is theirs now.
      if (entry && !(entry.state === 'pending' && entry.token === token)) return;
      if (graceMs > 0) put(hash, { state: 'done', value, expiresAt: Date.now() + graceMs });
      else entries.delete(hash);
      notify(hash);
    },
    async abandon(hash, token) {
      const entry = live(hash);
      if (entry?.state === 'pending' && entry.token === token) entries.delete(hash);
      notify(hash);
    },
    watch(hash, onChange) {
      let set = watchers.get(hash);
      if (!set) {
        set = new Set();
        watchers.set(hash, set);
      }
      set.add(onChange);
      const own = set;
      return () => {
        own.delete(onChange);
        if (own.size === 0 && watchers.get(hash) === own) watchers.delete(hash);
      };
    },
    dispose() {
      entries.clear();
      watchers.clear();
      clearInterval(sweeper);
      sweeper = undefined;
    },
  };
}
