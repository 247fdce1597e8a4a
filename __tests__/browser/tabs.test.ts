/**
 * Several tabs of one origin in real Chromium (playwright-core, Debian's /usr/bin/chromium), each
 * with its own gate on the example page (examples/browser), sharing tokens through localStorage
 * and one refresh through broadcastCoordinator, against the real auth server with rotating refresh
 * tokens and reuse detection.
 *
 * The refresh is held open in the page (`holdRefreshes`) until every tab's requests wait for it and
 * the Web Lock shows one holder and the other tabs queued, so that the tabs really contend; what the
 * tests assert then does not depend on timing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FireResult, TabState } from '../../examples/browser/app.js';
import { buildTestPage, type PageServer, servePage } from '../../examples/browser/serve.js';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { type Chromium, launchChromium, type Tab } from '../helpers/chromium.js';

// Real browser tabs on a machine that may be busy: the scenarios take seconds, not milliseconds.
jest.setTimeout(90_000);

let dir: string;
let pageServer: PageServer;
let browser: Chromium;
let server: AuthServer;
let scope = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'axios-refresh-gate-tabs-'));
  await buildTestPage(dir);
  pageServer = await servePage(dir);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await pageServer?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  server = await startAuthServer({ port: 0 });
  scope++;
});

const opened: Tab[] = [];

afterEach(async () => {
  try {
    // Nothing went wrong in any page: no uncaught error, no unhandled rejection.
    expect(opened.flatMap((tab) => tab.errors)).toEqual([]);
  } finally {
    opened.length = 0;
    await browser.closeTabs();
    await server.close();
  }
});

/** Opens `count` tabs of the page; each test gets its own storage key and lock name. */
async function openTabs(count: number, query: Record<string, string> = {}): Promise<Tab[]> {
  const params = new URLSearchParams({
    api: server.url,
    key: `tokens-${scope}`,
    name: `refresh-${scope}`,
    ...query,
  });
  const tabs: Tab[] = [];
  for (let i = 0; i < count; i++) {
    const tab = await browser.open(`${pageServer.url}/?${params}`);
    tabs.push(tab);
    opened.push(tab);
  }
  return tabs;
}

const state = (tab: Tab): Promise<TabState> => tab.page.evaluate(() => window.app!.state());
const fire = (tab: Tab, count: number): Promise<FireResult> =>
  tab.page.evaluate((n) => window.app!.fire(n), count);
const locks = (tab: Tab) => tab.page.evaluate(() => window.app!.locks());
const hold = (tabs: Tab[]) =>
  Promise.all(tabs.map((tab) => tab.page.evaluate(() => window.app!.holdRefreshes())));
const release = (tabs: Tab[]) =>
  Promise.all(tabs.map((tab) => tab.page.evaluate(() => window.app!.releaseRefreshes())));

/** Polls until `condition` holds (the pages and the server work on their own meanwhile). */
async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const giveUpAt = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Logs in in the first tab and waits until every tab has heard of the tokens and its view of
 * localStorage shows them (the announcement and the storage reach a tab separately).
 */
async function logIn(tabs: Tab[]): Promise<string> {
  const token = await tabs[0]!.page.evaluate(() => window.app!.login());
  await until(
    async () =>
      (await Promise.all(tabs.map(state))).every(
        (s) => s.changes.at(-1) === token && s.token === token,
      ),
    'every tab heard of the login and its store shows it',
  );
  return token;
}

/** Waits until every tab has `perTab` requests waiting on its own refresh attempt, and the lock
 *  has one holder with `pending` tabs queued behind it. */
async function contending(tabs: Tab[], perTab: number, pending: number): Promise<void> {
  await until(async () => {
    const states = await Promise.all(tabs.map(state));
    if (!states.every((s) => s.status === 'refreshing' && s.waiting === perTab)) return false;
    const lock = await locks(tabs[0]!);
    return lock.held === 1 && lock.pending === pending;
  }, `every tab waits with ${perTab} requests and ${pending} tabs queue for the lock`);
}

const sum = (states: TabState[], field: 'refreshes' | 'refreshEntered' | 'failures') =>
  states.reduce((total, s) => total + s[field], 0);

describe.each([2, 5])('%i tabs whose tokens expire together, 20 requests each', (count) => {
  it('make exactly one refresh; all requests succeed and every tab ends with the new token', async () => {
    const tabs = await openTabs(count);
    const initial = await logIn(tabs);
    server.expireAll();
    server.resetStats();
    await hold(tabs);

    const fired = tabs.map((tab) => fire(tab, 20));
    await contending(tabs, 20, count - 1);
    // One tab is inside its refresh; the others wait for the lock, not for the server.
    expect(sum(await Promise.all(tabs.map(state)), 'refreshEntered')).toBe(1);
    expect(server.stats.refreshCalls).toBe(0);
    await release(tabs);

    const results = await Promise.all(fired);
    const states = await Promise.all(tabs.map(state));
    // One assertion over everything, so that a failure shows the whole picture.
    expect({ results, stats: server.stats, states }).toMatchObject({
      results: tabs.map(() => ({ ok: 20, failed: 0, errors: {}, sameError: true })),
      stats: {
        refreshCalls: 1,
        refreshSuccesses: 1,
        reuseDetected: 0,
        familiesRevoked: 0,
        concurrentRefreshMax: 1,
        api401: 20 * count,
        apiOk: 20 * count,
      },
    });
    expect(sum(states, 'refreshes')).toBe(1);
    expect(sum(states, 'refreshEntered')).toBe(1);
    const final = states.find((s) => s.refreshes === 1)!.changes.at(-1)!;
    expect(final).not.toBe(initial);
    await until(
      async () => (await Promise.all(tabs.map(state))).every((s) => s.token === final),
      "every tab's store shows the new token",
    );
    for (const s of await Promise.all(tabs.map(state))) {
      expect(s).toMatchObject({ token: final, status: 'idle', waiting: 0, failures: 0 });
      expect(s.changes.at(-1)).toBe(final);
    }
    const served = await Promise.all(
      tabs.map((tab) => tab.page.evaluate(() => window.app!.accessToken())),
    );
    expect(served).toEqual(tabs.map(() => final));
  });
});

it('without the cross-tab coordinator, the same two tabs refresh twice and the session is revoked', async () => {
  // The failure the coordinator prevents, on the same page and server: each tab's gate is
  // single-flight on its own, so both present the same rotating refresh token.
  const tabs = await openTabs(2, { coordinator: 'tab' });
  await logIn(tabs);
  server.expireAll();
  server.resetStats();
  await hold(tabs);

  const fired = tabs.map((tab) => fire(tab, 20));
  await until(async () => {
    const states = await Promise.all(tabs.map(state));
    return states.every((s) => s.refreshEntered === 1 && s.waiting === 20);
  }, 'both tabs are inside their own refresh');
  await release(tabs);

  const results = await Promise.all(fired);
  expect(server.stats).toMatchObject({ refreshCalls: 2, reuseDetected: 1, familiesRevoked: 1 });
  // Revocation takes the winner's new tokens with it: requests fail, and the session is gone.
  expect(results.reduce((failed, result) => failed + result.failed, 0)).toBeGreaterThan(0);
  for (const tab of tabs) expect((await fire(tab, 1)).ok).toBe(0);
});

it('a tab closed while it holds the lock mid-refresh: another tab takes over within the refresh timeout', async () => {
  // The refresh timeout is long enough for a busy machine; what matters is that the other tab
  // completes its refresh (no REFRESH_TIMEOUT) and that nothing waits for the closed tab.
  const [holder, ...others] = await openTabs(3, { refreshTimeoutMs: '20000' });
  await logIn([holder!, ...others]);
  server.expireAll();
  server.resetStats();
  // The first refresh reaches the server and is never answered.
  server.knobs.refreshHang = true;

  const abandoned = fire(holder!, 20).catch((error: unknown) => error);
  await until(() => server.stats.refreshCalls === 1, 'the first refresh reaches the server');
  server.knobs.refreshHang = false;

  const fired = others.map((tab) => fire(tab, 20));
  await contending([holder!, ...others], 20, 2);
  await holder!.page.close();
  // The page's own fire() never settles: its tab is gone.
  expect(await abandoned).toBeInstanceOf(Error);

  const results = await Promise.all(fired);
  for (const result of results)
    expect(result).toEqual({ ok: 20, failed: 0, errors: {}, sameError: true });
  expect(server.stats).toMatchObject({
    refreshCalls: 2,
    refreshSuccesses: 1,
    reuseDetected: 0,
    familiesRevoked: 0,
  });
  const states = await Promise.all(others.map(state));
  // One of the remaining tabs refreshed; the other adopted its tokens under the lock.
  expect(sum(states, 'refreshes')).toBe(1);
  expect(sum(states, 'failures')).toBe(0);
  const final = states.find((s) => s.refreshes === 1)!.changes.at(-1);
  await until(
    async () => (await Promise.all(others.map(state))).every((s) => s.token === final),
    "both tabs' stores show the new token",
  );
  expect((await locks(others[0]!)).held).toBe(0);
});

it('a failed refresh rejects every tab’s waiting requests with one error; onRefreshFailed runs once per tab', async () => {
  // A cooldown that outlasts the test, so that every tab still reports it at the end.
  const tabs = await openTabs(3, { cooldownMs: '600000' });
  const initial = await logIn(tabs);
  server.expireAll();
  server.resetStats();
  server.knobs.refreshFailure = 503;
  await hold(tabs);

  const fired = tabs.map((tab) => fire(tab, 20));
  await contending(tabs, 20, 2);
  await release(tabs);

  const results = await Promise.all(fired);
  for (const result of results) {
    expect(result).toEqual({ ok: 0, failed: 20, errors: { '503': 20 }, sameError: true });
  }
  const states = await Promise.all(tabs.map(state));
  for (const s of states) {
    expect(s).toMatchObject({
      refreshFailedCalls: 1,
      failures: 1,
      refreshes: 0,
      waiting: 0,
      status: 'cooldown',
      token: initial,
    });
  }
  // Each tab tried once, one at a time under the lock; the tokens were left as they were.
  expect(server.stats).toMatchObject({
    refreshCalls: 3,
    refreshSuccesses: 0,
    concurrentRefreshMax: 1,
    familiesRevoked: 0,
  });
});

it('clear() in one tab logs out the others through the store', async () => {
  const tabs = await openTabs(3);
  const token = await logIn(tabs);
  await tabs[1]!.page.evaluate(() => window.app!.clear());

  await until(
    async () =>
      (await Promise.all(tabs.map(state))).every(
        (s) => s.changes.at(-1) === null && s.token === null,
      ),
    'every tab heard the logout and its store is empty',
  );
  for (const tab of tabs) {
    const s = await state(tab);
    expect(s.token).toBeNull();
    // Each tab heard the login and then the logout, once each.
    expect(s.changes).toEqual([token, null]);
    expect(await tab.page.evaluate(() => window.app!.accessToken())).toBeNull();
  }
});

it('the store alone carries a logout to the other tabs (no coordinator messages)', async () => {
  const tabs = await openTabs(2, { coordinator: 'tab' });
  const token = await logIn(tabs);
  await tabs[0]!.page.evaluate(() => window.app!.clear());
  await until(async () => (await state(tabs[1]!)).changes.at(-1) === null, 'the other tab heard');
  expect((await state(tabs[1]!)).changes).toEqual([token, null]);
});
