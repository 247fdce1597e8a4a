import type { Tokens } from '../index.js';

/**
 * The scope's last word, kept where every tab of the origin reads the same thing: IndexedDB,
 * whose transactions are ordered across tabs (localStorage reaches other tabs on its own schedule,
 * and messages of different BroadcastChannel objects arrive in no set order). It holds a
 * fingerprint of the access token, never a token: a page that keeps its tokens in memory or in
 * sessionStorage has nothing written to disk by it.
 */
export interface Ledger {
  /** Records `state` for the scope; resolves once committed (or failed: then the next read tells). */
  record(state: string): Promise<void>;
  /** The state last recorded; `undefined` when there is none or IndexedDB failed. */
  read(): Promise<string | undefined>;
  close(): void;
}

const DATABASE = 'axios-refresh-gate';
const TABLE = 'scopes';
/** An IndexedDB that does not answer within this is treated as missing, for that call. */
const LIMIT_MS = 2_000;

/** The ledger of scope `name`, or `undefined` where there is no IndexedDB. */
export function indexedDbLedger(name: string): Ledger | undefined {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (typeof factory?.open !== 'function') return undefined;
  let database: Promise<IDBDatabase> | undefined;
  let closed = false;

  const open = () => {
    database ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = factory.open(DATABASE, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(TABLE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error('IndexedDB blocked'));
    });
    // A failed open is tried again next time.
    database.catch(() => {
      database = undefined;
    });
    return database;
  };

  const run = <T>(
    mode: IDBTransactionMode,
    op: (table: IDBObjectStore) => IDBRequest,
    done: (request: IDBRequest, transaction: IDBTransaction, resolve: (value: T) => void) => void,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('IndexedDB did not answer')), LIMIT_MS);
      const settle = (value: T) => {
        clearTimeout(timer);
        resolve(value);
      };
      const fail = (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      };
      open().then((db) => {
        try {
          const transaction = db.transaction(TABLE, mode);
          const request = op(transaction.objectStore(TABLE));
          transaction.onerror = () => fail(transaction.error);
          transaction.onabort = () => fail(transaction.error);
          done(request, transaction, settle);
        } catch (error) {
          fail(error);
        }
      }, fail);
    });

  return {
    record: (state) =>
      closed
        ? Promise.resolve()
        : run<void>(
            'readwrite',
            (table) => table.put(state, name),
            (_, transaction, resolve) => {
              transaction.oncomplete = () => resolve();
            },
          ).catch(() => {}),
    read: () =>
      closed
        ? Promise.resolve(undefined)
        : run<unknown>(
            'readonly',
            (table) => table.get(name),
            (request, _, resolve) => {
              request.onsuccess = () => resolve(request.result);
            },
          ).then(
            (value) => (typeof value === 'string' ? value : undefined),
            () => undefined,
          ),
    close() {
      closed = true;
      database?.then((db) => db.close()).catch(() => {});
    },
  };
}

/**
 * A fingerprint of the tokens' access token (`-` for none): two 32-bit FNV-1a hashes, enough to
 * tell tokens apart, far too little to learn anything of one.
 */
export function fingerprint(tokens: Tokens | null): string {
  if (tokens === null) return '-';
  const text = tokens.accessToken;
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    a = Math.imul(a ^ code, 0x01000193);
    b = Math.imul(b ^ code, 0x5bd1e995);
  }
  return (a >>> 0).toString(36) + (b >>> 0).toString(36);
}
