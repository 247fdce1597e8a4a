/**
 * Several tabs of the example page (examples/browser/app.ts) in real Chromium, against the example
 * auth server, for the browser suites (tabs.test.ts, tabs-races.test.ts).
 *
 * {@link useTabs} registers the jest hooks: the page is built from src once per file and served, one
 * Chromium is launched per file, every test gets a fresh auth server and its own storage key and
 * lock name, and after every test its tabs are closed, its server too (even when the test failed),
 * and no page may have reported an uncaught error. The other helpers drive the page's `window.app`.
 *
 * @example
 * ```ts
 * import { fire, logIn, useTabs } from '../helpers/tabs.js';
 *
 * const env = useTabs();
 *
 * it('one refresh', async () => {
 *   const tabs = await env.openTabs(2, { refreshTimeoutMs: '20000' });
 *   await logIn(tabs);
 *   env.server.expireAll();
 *   await Promise.all(tabs.map((tab) => fire(tab, 20)));
 *   expect(env.server.stats.refreshCalls).toBe(1);
 * });
 * ```
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FireResult, TabState } from '../../examples/browser/app.js';
import { buildTestPage, type PageServer, servePage } from '../../examples/browser/serve.js';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { type Chromium, type LaunchOptions, launchChromium, type Tab } from './chromium.js';

export type { Tab } from './chromium.js';

/** The suite's browser, page and the current test's auth server. */
export interface TabsEnv {
  readonly browser: Chromium;
  /** This test's auth server (a fresh one per test). */
  readonly server: AuthServer;
  /** The page's URL for this test: its server, storage key and lock name, and `query`. */
  url(query?: Record<string, string>): string;
  /** Opens `count` tabs of the page, one after the other; they are closed after the test. */
  openTabs(count: number, query?: Record<string, string>): Promise<Tab[]>;
}

/** Registers the hooks of a tabs suite (see the file's header) and answers its environment. */
export function useTabs(launch: LaunchOptions = {}): TabsEnv {
  let dir: string | undefined;
  let pageServer: PageServer | undefined;
  let browser: Chromium | undefined;
  let server: AuthServer | undefined;
  let scope = 0;
  const opened: Tab[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'axios-refresh-gate-tabs-'));
    await buildTestPage(dir);
    pageServer = await servePage(dir);
    browser = await launchChromium(launch);
  }, 60_000);

  afterAll(async () => {
    try {
      await browser?.close();
    } finally {
      await pageServer?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  beforeEach(async () => {
    server = await startAuthServer({ port: 0 });
    scope++;
  });

  afterEach(async () => {
    try {
      // Nothing went wrong in any page: no uncaught error, no unhandled rejection.
      expect(opened.flatMap((tab) => tab.errors)).toEqual([]);
    } finally {
      opened.length = 0;
      try {
        await browser?.closeTabs();
      } finally {
        await server?.close();
      }
    }
  });

  const env: TabsEnv = {
    get browser() {
      if (!browser) throw new Error('the browser is not launched yet (use env in a test)');
      return browser;
    },
    get server() {
      if (!server) throw new Error('no auth server yet (use env in a test)');
      return server;
    },
    url(query = {}) {
      const params = new URLSearchParams({
        api: env.server.url,
        key: `tokens-${scope}`,
        name: `refresh-${scope}`,
        ...query,
      });
      return `${pageServer!.url}/?${params}`;
    },
    async openTabs(count, query = {}) {
      const tabs: Tab[] = [];
      for (let i = 0; i < count; i++) {
        const tab = await env.browser.open(env.url(query));
        tabs.push(tab);
        opened.push(tab);
      }
      return tabs;
    },
  };
  return env;
}

export const state = (tab: Tab): Promise<TabState> => tab.page.evaluate(() => window.app!.state());
export const states = (tabs: Tab[]): Promise<TabState[]> => Promise.all(tabs.map(state));
export const fire = (tab: Tab, count: number): Promise<FireResult> =>
  tab.page.evaluate((n) => window.app!.fire(n), count);
export const locks = (tab: Tab) => tab.page.evaluate(() => window.app!.locks());
/** Makes each tab's refresh wait, once entered, until {@link release}. */
export const hold = (tabs: Tab[]) =>
  Promise.all(tabs.map((tab) => tab.page.evaluate(() => window.app!.holdRefreshes())));
export const release = (tabs: Tab[]) =>
  Promise.all(tabs.map((tab) => tab.page.evaluate(() => window.app!.releaseRefreshes())));

/**
 * Polls until `condition` holds (the pages and the server work on their own meanwhile); throws
 * after `timeoutMs`.
 */
export async function until(
  condition: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Logs in in the first tab and waits until every tab has heard of the tokens and its view of
 * localStorage shows them (the announcement and the storage reach a tab separately).
 */
export async function logIn(tabs: Tab[]): Promise<string> {
  const token = await tabs[0]!.page.evaluate(() => window.app!.login());
  await until(
    async () => (await states(tabs)).every((s) => s.changes.at(-1) === token && s.token === token),
    'every tab heard of the login and its store shows it',
  );
  return token;
}

/** Waits until every tab has `perTab` requests waiting on its own refresh attempt, and the lock
 *  has one holder with `pending` tabs queued behind it. */
export async function contending(tabs: Tab[], perTab: number, pending: number): Promise<void> {
  await until(async () => {
    const all = await states(tabs);
    if (!all.every((s) => s.status === 'refreshing' && s.waiting === perTab)) return false;
    const lock = await locks(tabs[0]!);
    return lock.held === 1 && lock.pending === pending;
  }, `every tab waits with ${perTab} requests and ${pending} tabs queue for the lock`);
}

export const sum = (
  all: TabState[],
  field: 'refreshes' | 'refreshEntered' | 'failures' | 'refreshFailedCalls',
) => all.reduce((total, s) => total + s[field], 0);
