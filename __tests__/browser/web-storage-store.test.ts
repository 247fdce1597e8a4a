/**
 * webStorageStore in Node with a fake Storage and a fake window for `storage` events. In real
 * Chromium it runs in tabs.test.ts.
 */
import { type WebStorageStoreOptions, webStorageStore } from '../../src/browser/index.js';
import {
  createRefreshGate,
  isRefreshGateError,
  RefreshGateError,
  type Tokens,
} from '../../src/index.js';
import { FakeStorage, installWindow } from './fakes.js';

const KEY = 'axios-refresh-gate';
const tokens: Tokens = { accessToken: 'a1', refreshToken: 'r1', expiresAt: 1_800_000_000_000 };

function setup(key?: string) {
  const storage = new FakeStorage();
  const logger = { warn: jest.fn() };
  const store = webStorageStore(storage, key, { logger });
  return { storage, logger, store };
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('get and set', () => {
  it('reads null from an empty storage, and the tokens it stored as JSON under its key', () => {
    const { storage, store } = setup();
    expect(store.get()).toBeNull();
    store.set(tokens);
    expect(JSON.parse(storage.data.get(KEY)!)).toEqual(tokens);
    expect(store.get()).toEqual(tokens);
  });

  it('uses the key it is given', () => {
    const { storage, store } = setup('my-app');
    store.set({ accessToken: 'a' });
    expect([...storage.data.keys()]).toEqual(['my-app']);
  });

  it('stores only the token fields, not whatever else the refresh returned', () => {
    const { storage, store } = setup();
    store.set({ ...tokens, tokenType: 'Bearer', idToken: 'secret' } as Tokens);
    expect(JSON.parse(storage.data.get(KEY)!)).toEqual(tokens);
    expect(store.get()).toEqual(tokens);
  });

  it('parses once per stored string: repeated reads return the same object without parsing', () => {
    const { storage, store } = setup();
    storage.data.set(KEY, JSON.stringify(tokens));
    const parse = jest.spyOn(JSON, 'parse');
    const first = store.get();
    for (let i = 0; i < 100; i++) expect(store.get()).toBe(first);
    expect(parse).toHaveBeenCalledTimes(1);
    // Read every time (another tab may have written), parsed only when it changed.
    expect(storage.reads).toBe(101);
    storage.data.set(KEY, JSON.stringify({ accessToken: 'a2' }));
    expect(store.get()).toEqual({ accessToken: 'a2' });
    expect(parse).toHaveBeenCalledTimes(2);
  });

  it('does not parse what it has just written', () => {
    const { store } = setup();
    const parse = jest.spyOn(JSON, 'parse');
    store.set(tokens);
    expect(store.get()).toEqual(tokens);
    expect(parse).not.toHaveBeenCalled();
  });

  it('clear() removes the key', () => {
    const { storage, store } = setup();
    store.set(tokens);
    store.clear();
    expect(storage.data.has(KEY)).toBe(false);
    expect(store.get()).toBeNull();
  });
});

describe('what is not tokens', () => {
  it('reads corrupted JSON as no tokens, warning once however often it is read', () => {
    const { storage, logger, store } = setup();
    storage.data.set(KEY, '{"accessToken": "a1"');
    for (let i = 0; i < 10; i++) expect(store.get()).toBeNull();
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn).toHaveBeenCalledWith(
      'the value under "axios-refresh-gate" in web storage is not JSON; treating it as no tokens',
    );
    // Fixed by a later write (a login in another tab): read again.
    storage.data.set(KEY, JSON.stringify(tokens));
    expect(store.get()).toEqual(tokens);
    expect(logger.warn).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['null', 'null'],
    ['an array', '[{"accessToken":"a"}]'],
    ['a string', '"a1"'],
    ['a number', '42'],
    ['an object without accessToken', '{"token":"a1"}'],
    ['an empty accessToken', '{"accessToken":""}'],
    ['an accessToken with CRLF (header injection)', '{"accessToken":"abc\\r\\nX-Evil: 1"}'],
    ['an accessToken with a bare LF', '{"accessToken":"abc\\nX-Evil: 1"}'],
    ['an accessToken with a space', '{"accessToken":"a b"}'],
    ['a numeric accessToken', '{"accessToken":1}'],
    ['a non-string refreshToken', '{"accessToken":"a","refreshToken":5}'],
    ['an empty refreshToken', '{"accessToken":"a","refreshToken":""}'],
    ['a non-numeric expiresAt', '{"accessToken":"a","expiresAt":"soon"}'],
  ])('reads %s as no tokens, with a warning', (_, raw) => {
    const { storage, logger, store } = setup();
    storage.data.set(KEY, raw);
    expect(store.get()).toBeNull();
    expect(store.get()).toBeNull();
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0]![0]).toBe(
      'the value under "axios-refresh-gate" in web storage is not tokens ({ accessToken, refreshToken?, expiresAt? }); treating it as no tokens',
    );
  });

  it('warns through console.warn by default, without the stored value', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const storage = new FakeStorage();
    storage.data.set(KEY, '{"refreshToken":"r-secret"}');
    expect(webStorageStore(storage).get()).toBeNull();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toBe('[axios-refresh-gate]');
    expect(JSON.stringify(warn.mock.calls)).not.toContain('r-secret');
  });
});

describe('when the browser refuses', () => {
  const quota = () => new DOMException('The quota has been exceeded.', 'QuotaExceededError');
  const security = () => new DOMException('Access is denied for this document.', 'SecurityError');

  it('set() throws a clear error with the cause, and keeps what it had', () => {
    const { storage, store } = setup();
    store.set(tokens);
    const failure = quota();
    storage.failures.setItem = failure;
    let thrown: unknown;
    try {
      store.set({ accessToken: 'a2' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toBe(
      'Storing tokens under "axios-refresh-gate" in web storage failed (QuotaExceededError: The quota has been exceeded.); the storage may be full, or blocked by the browser\'s privacy settings',
    );
    expect((thrown as Error).cause).toBe(failure);
    expect(store.get()).toEqual(tokens);
  });

  it('get() and clear() throw a clear error when storage access is denied', () => {
    const { storage, store } = setup();
    storage.failures.getItem = security();
    expect(() => store.get()).toThrow(
      /^Reading tokens under "axios-refresh-gate" in web storage failed \(SecurityError: Access is denied/,
    );
    storage.failures.removeItem = security();
    expect(() => store.clear()).toThrow(/^Removing tokens under "axios-refresh-gate"/);
  });

  it('describes a thrown non-Error too', () => {
    const { storage, store } = setup();
    storage.failures.setItem = 'full' as unknown as Error;
    expect(() => store.set(tokens)).toThrow(/in web storage failed \(full\); /);
  });

  it('fails the refresh with that error, so every waiting request rejects with it', async () => {
    const { storage, store } = setup();
    const gate = createRefreshGate({
      store,
      refresh: async () => ({ accessToken: 'a2', refreshToken: 'r2' }),
      logger: { debug: () => {}, warn: () => {} },
    });
    await gate.setTokens(tokens);
    const failure = quota();
    storage.failures.setItem = failure;
    const waiting = [gate.refresh(), gate.getAccessToken(), gate.refresh()];
    const outcomes = await Promise.allSettled(waiting);
    const reasons = outcomes.map((outcome) => outcome.status === 'rejected' && outcome.reason);
    expect((reasons[0] as Error).cause).toBe(failure);
    expect(reasons.every((reason) => reason === reasons[0])).toBe(true);
    // The tokens were left as they were (rule 5).
    expect(store.get()).toEqual(tokens);
    gate.destroy();
  });
});

describe('subscribe (the storage event)', () => {
  let window: ReturnType<typeof installWindow>;
  beforeEach(() => {
    window = installWindow();
  });
  afterEach(() => {
    window.restore();
  });

  it('tells of changes to its key in its storage made by another tab, and stops after unsubscribe', () => {
    const { storage, store } = setup();
    const heard: Array<Tokens | null> = [];
    const unsubscribe = store.subscribe!((next) => heard.push(next));

    storage.data.set(KEY, JSON.stringify(tokens));
    window.dispatch({ key: KEY, storageArea: storage });
    storage.data.delete(KEY);
    window.dispatch({ key: KEY, storageArea: storage });
    expect(heard).toEqual([tokens, null]);

    unsubscribe();
    expect(window.listeners()).toBe(0);
    window.dispatch({ key: KEY, storageArea: storage });
    expect(heard).toHaveLength(2);
  });

  it('ignores other keys and other storage areas; storage.clear() elsewhere (key null) is a logout', () => {
    const { storage, store } = setup();
    store.set(tokens);
    const heard: Array<Tokens | null> = [];
    store.subscribe!((next) => heard.push(next));

    window.dispatch({ key: 'theme', storageArea: storage });
    window.dispatch({ key: KEY, storageArea: new FakeStorage() });
    window.dispatch({ key: KEY, storageArea: null });
    expect(heard).toEqual([]);

    storage.data.clear();
    window.dispatch({ key: null, storageArea: storage });
    expect(heard).toEqual([null]);
  });

  it('reads corrupted data another tab wrote as a logout, never throwing from the event', () => {
    const { storage, logger, store } = setup();
    const heard: Array<Tokens | null> = [];
    store.subscribe!((next) => heard.push(next));
    storage.data.set(KEY, 'garbage');
    window.dispatch({ key: KEY, storageArea: storage });
    expect(heard).toEqual([null]);
    expect(logger.warn).toHaveBeenCalledTimes(1);

    storage.failures.getItem = new DOMException('denied', 'SecurityError');
    expect(() => window.dispatch({ key: KEY, storageArea: storage })).not.toThrow();
    expect(heard).toEqual([null]);
    expect(logger.warn).toHaveBeenCalledTimes(2);
    expect(logger.warn.mock.calls[1]![0]).toBe('reading tokens another tab stored failed');
  });

  it('makes a gate announce the tokens another tab stored, and a logout', async () => {
    const { storage, store } = setup();
    const gate = createRefreshGate({ store, refresh: async () => 'never' });
    const changes: unknown[] = [];
    gate.on('tokens:changed', (next) => changes.push(next));
    storage.data.set(KEY, JSON.stringify(tokens));
    window.dispatch({ key: KEY, storageArea: storage });
    expect(await gate.getAccessToken()).toBe('a1');
    storage.data.delete(KEY);
    window.dispatch({ key: KEY, storageArea: storage });
    expect(changes).toEqual([tokens, null]);
    expect(await gate.getAccessToken()).toBeNull();
    gate.destroy();
    // Destroy leaves no listener behind.
    expect(window.listeners()).toBe(0);
  });
});

it('without a window (a worker, Node), subscribe is a no-op', () => {
  const { store } = setup();
  const unsubscribe = store.subscribe!(() => {
    throw new Error('never called');
  });
  expect(() => unsubscribe()).not.toThrow();
});

it('rejects a storage or key that is not one with INVALID_OPTIONS naming it', () => {
  expect(() => webStorageStore(null as unknown as Storage)).toThrow(
    expect.objectContaining({
      code: 'INVALID_OPTIONS',
      message: expect.stringMatching(/`storage`.*\(null\)/),
    }),
  );
  expect(() => webStorageStore({} as Storage)).toThrow(/`storage`.*\(object\)/);
  expect(() => webStorageStore(new FakeStorage(), '')).toThrow(
    expect.objectContaining({
      code: 'INVALID_OPTIONS',
      message: 'Expected `key` to be a non-empty string, got `""` (string)',
    }),
  );
});

it('rejects options or a logger that are not ones with INVALID_OPTIONS naming them', () => {
  const storage = new FakeStorage();
  const failure = (options: unknown) => {
    try {
      webStorageStore(storage, KEY, options as WebStorageStoreOptions);
    } catch (error) {
      expect(error).toBeInstanceOf(RefreshGateError);
      return isRefreshGateError(error) ? [error.code, error.message] : error;
    }
    throw new Error('expected it to throw');
  };
  expect(failure(null)).toEqual([
    'INVALID_OPTIONS',
    'Expected `options` to be an object { logger? }, got `null` (null)',
  ]);
  expect(failure({ logger: { debug: () => {} } })).toEqual([
    'INVALID_OPTIONS',
    'Expected `logger` to be an object with a warn function (console fits), got `...` (object)',
  ]);
  expect(storage.reads).toBe(0);
});
