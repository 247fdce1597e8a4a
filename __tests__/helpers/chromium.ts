/**
 * Launches Debian's Chromium through playwright-core for the browser suites: one persistent
 * context in a fresh profile directory, whose pages share origin storage like the tabs of one
 * browser window. Chromium comes from `scripts/ensure-system-deps.sh chromium` (run by `npm
 * test`'s pretest step), never from `playwright install`.
 *
 * @example
 * ```ts
 * let browser: Chromium;
 * beforeAll(async () => { browser = await launchChromium(); });
 * afterAll(() => browser.close());
 * const tab = await browser.open(`${page.url}/?api=${server.url}`);
 * ```
 *
 * `launchChromium({ backForwardCache: true })` keeps the back/forward cache on (playwright turns
 * it off), for tests of a page restored from it.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A page plus what went wrong in it: uncaught errors and unhandled rejections. */
export interface Tab {
  readonly page: Page;
  readonly errors: string[];
}

export interface Chromium {
  readonly context: BrowserContext;
  /** Opens `url` in a new tab and waits until `window.app` is there. */
  open(url: string): Promise<Tab>;
  /** Closes every tab this helper opened that is still open. */
  closeTabs(): Promise<void>;
  close(): Promise<void>;
}

export interface LaunchOptions {
  /**
   * Keep the back/forward cache on, as in a browser people use: playwright turns it off by
   * default (`--disable-back-forward-cache`).
   * @default false
   */
  readonly backForwardCache?: boolean;
}

export async function launchChromium(options: LaunchOptions = {}): Promise<Chromium> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: run \`scripts/ensure-system-deps.sh chromium\` (npm test does it first)`,
    );
  }
  const profile = await mkdtemp(join(tmpdir(), 'axios-refresh-gate-chromium-'));
  let context: BrowserContext;
  try {
    // Playwright refuses --user-data-dir in `args`; a persistent context takes the directory
    // itself and gives one context whose pages share localStorage and Web Locks.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      ...(options.backForwardCache ? { ignoreDefaultArgs: ['--disable-back-forward-cache'] } : {}),
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  // The persistent context opens with one blank page; close it so that tabs are only ours.
  await Promise.all(context.pages().map((page) => page.close()));
  const tabs = new Set<Page>();

  return {
    context,
    async open(url) {
      const page = await context.newPage();
      tabs.add(page);
      page.once('close', () => tabs.delete(page));
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(String(error)));
      await page.goto(url);
      await page.waitForFunction(() => window.app !== undefined);
      return { page, errors };
    },
    async closeTabs() {
      await Promise.all([...tabs].map((page) => page.close()));
    },
    async close() {
      try {
        await context.close();
      } finally {
        await rm(profile, { recursive: true, force: true });
      }
    },
  };
}
