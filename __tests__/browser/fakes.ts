/**
 * Small stand-ins for the browser APIs the browser entry uses, for its unit tests in Node: a Web
 * Locks manager (exclusive, FIFO per name, abortable while waiting), a Storage, and a window that
 * dispatches `storage` events. Node 20 has BroadcastChannel itself (it delivers between channel
 * objects of one name in a process, as between tabs).
 */

/** How the fake lock manager treats an aborted request that still waits. */
export type AbortBehaviour =
  /** Rejects with the signal's reason, as current browsers do. */
  | 'reason'
  /** Rejects with a plain AbortError, as browsers that predate abort reasons do. */
  | 'legacy'
  /** Does nothing: the request is granted later anyway (the grant/abort race, made certain). */
  | 'ignore';

export class FakeLocks {
  /** Every request, in order. */
  readonly requests: Array<{ name: string; mode: LockMode | undefined }> = [];
  abortBehaviour: AbortBehaviour = 'reason';
  private readonly held = new Set<string>();
  private readonly queues = new Map<string, Array<() => void>>();

  request<T>(
    name: string,
    options: LockOptions,
    callback: (lock: Lock | null) => T | PromiseLike<T>,
  ): Promise<T> {
    this.requests.push({ name, mode: options.mode });
    const { signal } = options;
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const queue = this.queues.get(name) ?? [];
      this.queues.set(name, queue);
      const onAbort = () => {
        if (this.abortBehaviour === 'ignore') return;
        const at = queue.indexOf(grant);
        if (at >= 0) queue.splice(at, 1);
        reject(
          this.abortBehaviour === 'legacy'
            ? new DOMException('The request was aborted.', 'AbortError')
            : signal!.reason,
        );
      };
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.held.add(name);
        // Like the browser: the callback runs in a later task, and a throw rejects the request.
        Promise.resolve()
          .then(() => callback({ name, mode: options.mode ?? 'exclusive' } as Lock))
          .then(resolve, reject)
          .finally(() => this.release(name));
      };
      if (!this.held.has(name) && queue.length === 0) return grant();
      queue.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  isHeld(name: string): boolean {
    return this.held.has(name);
  }

  private release(name: string): void {
    this.held.delete(name);
    const next = this.queues.get(name)?.shift();
    if (next) next();
  }
}

/** Puts `navigator.locks` (and optionally removes BroadcastChannel) on globalThis until `restore()`. */
export function installBrowserGlobals(
  options: { locks?: FakeLocks | undefined; broadcastChannel?: boolean } = {},
): () => void {
  const scope = globalThis as Record<string, unknown>;
  const saved = {
    navigator: Object.getOwnPropertyDescriptor(scope, 'navigator'),
    BroadcastChannel: Object.getOwnPropertyDescriptor(scope, 'BroadcastChannel'),
  };
  Object.defineProperty(scope, 'navigator', {
    value: options.locks ? { locks: options.locks } : {},
    configurable: true,
    writable: true,
  });
  if (options.broadcastChannel === false) {
    Object.defineProperty(scope, 'BroadcastChannel', {
      value: undefined,
      configurable: true,
      writable: true,
    });
  }
  return () => {
    for (const [key, descriptor] of Object.entries(saved)) {
      if (descriptor) Object.defineProperty(scope, key, descriptor);
      else delete scope[key];
    }
  };
}

/** A Storage on a Map that counts reads and can be made to refuse. */
export class FakeStorage implements Storage {
  readonly data = new Map<string, string>();
  reads = 0;
  /** Thrown by the next calls of the named method while set. */
  failures: Partial<Record<'getItem' | 'setItem' | 'removeItem', Error>> = {};

  get length(): number {
    return this.data.size;
  }
  clear(): void {
    this.data.clear();
  }
  key(index: number): string | null {
    return [...this.data.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    this.reads++;
    if (this.failures.getItem) throw this.failures.getItem;
    return this.data.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    if (this.failures.setItem) throw this.failures.setItem;
    this.data.set(key, String(value));
  }
  removeItem(key: string): void {
    if (this.failures.removeItem) throw this.failures.removeItem;
    this.data.delete(key);
  }
}

/** Makes globalThis a window for `storage` events until `restore()`; `dispatch` sends one. */
export function installWindow(): {
  dispatch(init: { key: string | null; storageArea: Storage | null }): void;
  listeners(): number;
  restore(): void;
} {
  const scope = globalThis as Record<string, unknown>;
  const target = new EventTarget();
  let count = 0;
  scope.addEventListener = (type: string, listener: EventListener) => {
    count++;
    target.addEventListener(type, listener);
  };
  scope.removeEventListener = (type: string, listener: EventListener) => {
    count--;
    target.removeEventListener(type, listener);
  };
  return {
    dispatch({ key, storageArea }) {
      target.dispatchEvent(Object.assign(new Event('storage'), { key, storageArea }));
    },
    listeners: () => count,
    restore() {
      delete scope.addEventListener;
      delete scope.removeEventListener;
    },
  };
}
