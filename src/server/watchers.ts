/**
 * Who waits on which hash, for a dedupe store: `watch` adds one, `notify(hash)` calls those of
 * `hash` (a copy of the list, so a watcher may stop itself), `clear` forgets all. A flat set: the
 * waiters of one process are few, and a watcher that stops leaves nothing behind.
 */
export function watchers() {
  const all = new Set<readonly [string, () => void]>();
  return {
    watch(hash: string, onChange: () => void): () => void {
      const watcher = [hash, onChange] as const;
      all.add(watcher);
      return () => all.delete(watcher);
    },
    notify(hash: string): void {
      for (const [watched, onChange] of [...all]) if (watched === hash) onChange();
    },
    clear: () => all.clear(),
  };
}
