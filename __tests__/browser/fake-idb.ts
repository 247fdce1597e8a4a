/** What the ledger sets and reads on a request or a transaction of the fake. */
interface FakeRequest {
  result?: unknown;
  error?: unknown;
  onsuccess?: () => void;
  onerror?: () => void;
  onupgradeneeded?: () => void;
  onblocked?: () => void;
  oncomplete?: () => void;
  onabort?: () => void;
  objectStore?: () => unknown;
}

/** A tiny in-memory IndexedDB, shared by every "tab" of the process, with fault hooks. */
export class FakeIdb {
  readonly data = new Map<string, Map<string, unknown>>();
  /** While set, a readwrite transaction aborts with it (QuotaExceededError). */
  putFailure: Error | undefined;
  /** ms before a readwrite transaction commits. */
  putDelayMs = 0;
  opens = 0;
  closes = 0;
  private created = false;

  open(_name: string, _version: number) {
    this.opens++;
    const request: FakeRequest = { result: undefined, error: null };
    setTimeout(() => {
      const db = this.db();
      request.result = db;
      if (!this.created) {
        this.created = true;
        request.onupgradeneeded?.();
      }
      request.onsuccess?.();
    }, 0);
    return request;
  }

  private db() {
    const idb = this;
    return {
      createObjectStore(table: string) {
        idb.data.set(table, new Map());
      },
      close() {
        idb.closes++;
      },
      transaction(table: string, mode: string) {
        const rows = idb.data.get(table)!;
        const tx: FakeRequest = { error: null };
        const ops: Array<() => void> = [];
        tx.objectStore = () => ({
          put(value: unknown, key: string) {
            const req: FakeRequest = {};
            ops.push(() => {
              if (!idb.putFailure) rows.set(key, value);
              req.onsuccess?.();
            });
            return req;
          },
          get(key: string) {
            const req: FakeRequest = {};
            ops.push(() => {
              req.result = rows.get(key);
              req.onsuccess?.();
            });
            return req;
          },
        });
        const failure = mode === 'readwrite' ? idb.putFailure : undefined;
        setTimeout(
          () => {
            if (failure) {
              tx.error = failure;
              tx.onabort?.();
              return;
            }
            for (const op of ops) op();
            tx.oncomplete?.();
          },
          mode === 'readwrite' ? idb.putDelayMs : 0,
        );
        return tx;
      },
    };
  }
}

export function installIdb(idb: FakeIdb): () => void {
  const scope = globalThis as Record<string, unknown>;
  const saved = Object.getOwnPropertyDescriptor(scope, 'indexedDB');
  Object.defineProperty(scope, 'indexedDB', { value: idb, configurable: true, writable: true });
  return () => {
    if (saved) Object.defineProperty(scope, 'indexedDB', saved);
    else delete scope.indexedDB;
  };
}
