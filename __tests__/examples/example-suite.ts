/**
 * The browser suite both framework examples run (examples/react, examples/vue): the app is built
 * with `vite build`, served from a loopback static server, and talks to the real example auth
 * server through a recording proxy, in Debian's Chromium.
 *
 * Time in the page is Playwright's fake clock, paused: the stats poll and the simulated push fire
 * only when a test runs the clock, and the proxy parks refresh requests until the test releases
 * them. So "the token expires while the three data sources fire together" is an exact schedule,
 * not a race: the message's 401 starts the refresh, the poll and the push arrive while it is held.
 *
 * Both apps show the gate through the package's bindings (`axios-refresh-gate/react`, `/vue`): a
 * status line and the refreshing badge from `useGateState()`, whose renders the app counts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { type AuthServer, startAuthServer } from '../../examples/server/auth-server.js';
import { type Chromium, launchChromium } from '../helpers/chromium.js';
import { assertPackageBuilt, buildExample, installExample, ROOT } from './build-example.js';
import { type RecordingProxy, startRecordingProxy } from './recording-proxy.js';
import { type StaticServer, serveStatic } from './static-server.js';

/** Poll and push share one period, so one `runFor(PERIOD_MS)` fires each exactly once. */
export const PERIOD_MS = 4000;

interface Seen {
  refreshingShown: number;
  refreshingHidden: number;
  loginShown: number;
}

declare global {
  interface Window {
    __gateEvents?: { event: string; reason?: string }[];
    __seen?: Seen;
    /** `METHOD path` of every XMLHttpRequest the page sent, counted in the page itself. */
    __sent?: string[];
    /** XMLHttpRequests sent and not ended yet (answered, failed or aborted). */
    __inflight?: number;
    /** Renders per component, counted by the app (`gateStatus`: the `useGateState()` one). */
    __renders?: Record<string, number>;
    /** How many times `gate.state` changed, as `gate.subscribe` told the app. */
    __stateChanges?: number;
  }
}

/**
 * Counts the indicator and the login page coming and going, from before the app's first render,
 * and every XMLHttpRequest sent (axios' browser adapter), synchronously, in the page.
 */
function observePage(): void {
  const sent: string[] = [];
  window.__sent = sent;
  const { open, send } = XMLHttpRequest.prototype;
  const targets = new WeakMap<XMLHttpRequest, string>();
  XMLHttpRequest.prototype.open = function (this: XMLHttpRequest, ...args: unknown[]) {
    targets.set(
      this,
      `${String(args[0]).toUpperCase()} ${new URL(String(args[1]), location.href).pathname}`,
    );
    return (open as (...a: unknown[]) => void).apply(this, args);
  } as typeof open;
  window.__inflight = 0;
  XMLHttpRequest.prototype.send = function (this: XMLHttpRequest, body) {
    sent.push(targets.get(this) ?? '?');
    window.__inflight = (window.__inflight ?? 0) + 1;
    this.addEventListener('loadend', () => {
      window.__inflight = (window.__inflight ?? 0) - 1;
    });
    return send.call(this, body);
  };
  const seen = { refreshingShown: 0, refreshingHidden: 0, loginShown: 0 };
  window.__seen = seen;
  const count = (node: Node, selector: string): number => {
    if (!(node instanceof Element)) return 0;
    return (node.matches(selector) ? 1 : 0) + node.querySelectorAll(selector).length;
  };
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        seen.refreshingShown += count(node, '[data-testid="refreshing"]');
        seen.loginShown += count(node, '[data-testid="login-page"]');
      }
      for (const node of record.removedNodes) {
        seen.refreshingHidden += count(node, '[data-testid="refreshing"]');
      }
    }
  }).observe(document, { childList: true, subtree: true });
}

/**
 * Runs zero-delay timeouts on the next turn, as a browser does, and leaves every other timer to
 * the paused fake clock: TanStack Query (the React example's data layer) batches its notifications
 * with `setTimeout(fn, 0)`, which a paused clock would never run, so its UI would never update.
 * Installed after the clock, over its fake `setTimeout`.
 */
function runZeroDelayTimeouts(): void {
  const { setTimeout: fakeSetTimeout, clearTimeout: fakeClearTimeout } = window;
  const pending = new Map<number, () => void>();
  let lastId = 0;
  window.setTimeout = ((handler: TimerHandler, delay?: number, ...args: unknown[]) => {
    if ((delay ?? 0) > 0 || typeof handler !== 'function') {
      return fakeSetTimeout(handler, delay, ...args);
    }
    // Negative ids never clash with the fake clock's.
    const id = --lastId;
    pending.set(id, () => handler(...args));
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      const run = pending.get(id);
      pending.delete(id);
      run?.();
    };
    channel.port2.postMessage(null);
    return id;
  }) as typeof setTimeout;
  window.clearTimeout = ((id?: number) => {
    if (typeof id === 'number' && id < 0) pending.delete(id);
    else fakeClearTimeout(id);
  }) as typeof clearTimeout;
}

export interface AppPage {
  page: Page;
  /** Every console message, `type: text`. */
  consoleLines: string[];
  /** Requests that failed in the page (`METHOD /path errorText`), aborted ones included. */
  failedRequests: string[];
  /** Uncaught exceptions and unhandled rejections ('pageerror'). */
  pageErrors: string[];
  /** Console errors other than Chromium's own line for each non-2xx response. */
  consoleErrors: string[];
  /** Chromium's "Failed to load resource" lines (one per 401), kept apart. */
  failedResources: string[];
  /** `METHOD /path` of every request the page sent to the API (preflights excluded). */
  apiRequests: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls a condition in the page until it holds. Not `page.waitForFunction`: its default polling
 * runs on requestAnimationFrame, which the paused fake clock stops.
 */
export async function until(
  page: Page,
  condition: (arg: number) => boolean,
  arg: number,
  what: string,
): Promise<void> {
  for (let i = 0; ; i++) {
    if (await page.evaluate(condition, arg)) return;
    if (i === 500) {
      const state = await page.evaluate(() => ({ gate: window.__gateEvents, sent: window.__sent }));
      throw new Error(`timed out waiting for ${what}; page saw ${JSON.stringify(state)}`);
    }
    await sleep(20);
  }
}

/** Lets promise chains started by timers run to their XHR send (a MessageChannel turn is not faked). */
export const settleMicrotasks = (page: Page) =>
  page.evaluate(
    () =>
      new Promise<void>((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => resolve();
        channel.port2.postMessage(null);
      }),
  );

export const countEvents = (page: Page, event: string, reason?: string) =>
  page.evaluate(
    ([e, r]) =>
      (window.__gateEvents ?? []).filter((x) => x.event === e && (!r || x.reason === r)).length,
    [event, reason] as const,
  );

export const seen = (page: Page) => page.evaluate(() => ({ ...window.__seen! }));

/**
 * Waits until the page has no request on the wire, twice around a turn of its event loop, so
 * whatever an answer set off (a replay, a query's next state) has run too.
 */
export async function settle(page: Page): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await until(page, () => window.__inflight === 0, 0, 'no request in flight');
    await settleMicrotasks(page);
  }
}

/** The `useGateState()` component: its renders, the gate's state changes, the status it shows. */
const gateStatus = (page: Page) =>
  page.evaluate(() => ({
    renders: window.__renders?.gateStatus ?? 0,
    changes: window.__stateChanges ?? 0,
    status: document.querySelector('[data-testid="gate-status"]')?.getAttribute('data-status'),
    events: window.__gateEvents?.length ?? 0,
  }));

/** What {@link exampleSuite} gives the tests of one example only (react-query-suite.ts). */
export interface ExampleSuite {
  readonly server: AuthServer;
  readonly proxy: RecordingProxy;
  readonly observations: Record<string, unknown>;
  /** Opens the app at `path` (default `/`) on a paused fake clock and waits for the login page. */
  openApp(path?: string): Promise<AppPage>;
  logIn(app: AppPage, username: string): Promise<void>;
  fireAllThree(app: AppPage): Promise<void>;
  answerNumber(page: Page, testId: string): Promise<number>;
  expectNoErrors(app: AppPage): void;
  shot(app: AppPage, state: string): Promise<unknown>;
}

export function exampleSuite(name: 'react' | 'vue'): ExampleSuite {
  const exampleDir = join(ROOT, 'examples', name);
  const artifacts = join(ROOT, '.artifacts');
  const observations: Record<string, unknown> = {};
  let server: AuthServer;
  let proxy: RecordingProxy;
  let site: StaticServer;
  let chromium: Chromium;
  let outDir: string;
  const open: AppPage[] = [];

  const shot = (app: AppPage, state: string) =>
    app.page.screenshot({ path: join(artifacts, `${name}-${state}.png`) });

  beforeAll(async () => {
    const started = Date.now();
    assertPackageBuilt();
    mkdirSync(artifacts, { recursive: true });
    // A long access-token lifetime: only expireAll() expires tokens, never the wall clock.
    server = await startAuthServer({ accessTtlMs: 3_600_000 });
    proxy = await startRecordingProxy(server.url);
    outDir = mkdtempSync(join(tmpdir(), `axios-refresh-gate-${name}-`));
    const [, launched] = await Promise.all([
      installExample(exampleDir).then(() =>
        buildExample(exampleDir, outDir, {
          VITE_AUTH_URL: proxy.url,
          VITE_POLL_MS: String(PERIOD_MS),
          VITE_PUSH_MS: String(PERIOD_MS),
        }),
      ),
      launchChromium(),
    ]);
    chromium = launched;
    site = await serveStatic(outDir);
    observations.setupMs = Date.now() - started;
  }, 300_000);

  afterEach(async () => {
    await Promise.all(open.splice(0).map((app) => app.page.close()));
    await proxy?.release();
    if (server) {
      server.knobs.refreshFailure = false;
      server.knobs.apiLatencyMs = 0;
      server.resetStats();
    }
    proxy?.reset();
  });

  afterAll(async () => {
    await chromium?.close();
    await site?.close();
    await proxy?.close();
    await server?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
    writeFileSync(
      join(artifacts, `${name}-observations.json`),
      `${JSON.stringify(observations, null, 2)}\n`,
    );
    console.log(`${name} example observations: ${JSON.stringify(observations)}`);
  });

  async function openApp(path = '/'): Promise<AppPage> {
    const page = await chromium.context.newPage();
    const app: AppPage = {
      page,
      consoleLines: [],
      failedRequests: [],
      pageErrors: [],
      consoleErrors: [],
      failedResources: [],
      apiRequests: [],
    };
    open.push(app);
    page.on('pageerror', (error) => app.pageErrors.push(String(error)));
    page.on('console', (message) => {
      app.consoleLines.push(`${message.type()}: ${message.text()}`);
      if (message.type() !== 'error') return;
      const text = message.text();
      if (text.startsWith('Failed to load resource')) app.failedResources.push(text);
      else app.consoleErrors.push(text);
    });
    page.on('requestfailed', (request) => {
      const { pathname } = new URL(request.url());
      app.failedRequests.push(`${request.method()} ${pathname} ${request.failure()?.errorText}`);
    });
    page.on('request', (request) => {
      if (request.url().startsWith(proxy.url) && request.method() !== 'OPTIONS') {
        app.apiRequests.push(`${request.method()} ${new URL(request.url()).pathname}`);
      }
    });
    await page.addInitScript(observePage);
    await page.clock.install();
    await page.addInitScript(runZeroDelayTimeouts);
    await page.goto(`${site.url}${path}`);
    await page.clock.pauseAt(Date.now() + 1000);
    await page.getByTestId('login-page').waitFor();
    return app;
  }

  async function logIn(app: AppPage, username: string): Promise<void> {
    const { page } = app;
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('secret');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('[data-testid="stats"][data-state="ok"]').waitFor();
  }

  const answerNumber = async (page: Page, testId: string) =>
    Number(await page.getByTestId(testId).getAttribute('data-n'));

  /**
   * With the access token expired at the server and refreshes parked at the proxy: sends the
   * message (its 401 starts the refresh), then runs the clock one period so the stats poll and
   * the push fire while the refresh is held. Resolves once both wait at the gate.
   */
  async function fireAllThree(app: AppPage): Promise<void> {
    const { page } = app;
    const heldBefore = await countEvents(page, 'request:queued', 'held');
    await page.getByRole('button', { name: 'Send' }).click();
    await proxy.parked(1);
    await page.clock.runFor(PERIOD_MS);
    await until(
      page,
      (count) => (window.__gateEvents ?? []).filter((x) => x.reason === 'held').length >= count,
      heldBefore + 2,
      'the poll and the push to wait at the gate',
    );
  }

  function expectNoErrors(app: AppPage): void {
    expect(app.pageErrors).toEqual([]);
    expect(app.consoleErrors).toEqual([]);
  }

  test('the token expires while message, poll and push fire together: one refresh, three results', async () => {
    const app = await openApp();
    const { page } = app;
    await logIn(app, 'alice');
    const statsBefore = await answerNumber(page, 'stats');
    await shot(app, 'dashboard');

    server.resetStats();
    proxy.reset();
    proxy.holdRefreshes();
    server.expireAll();
    const statusBefore = await gateStatus(page);
    expect(statusBefore.status).toBe('idle');
    await fireAllThree(app);

    await page.getByTestId('refreshing').waitFor({ state: 'visible' });
    expect((await gateStatus(page)).status).toBe('refreshing');
    await shot(app, 'refreshing');
    await proxy.release();
    await page.getByTestId('refreshing').waitFor({ state: 'detached' });
    await page.locator('[data-testid="message"][data-state="ok"]').waitFor();
    await page.locator('[data-testid="notifications"][data-state="ok"]').waitFor();
    await page.locator('[data-testid="stats"][data-state="ok"]').waitFor();
    await shot(app, 'after-refresh');
    if (process.env.UPDATE_DOCS_SCREENSHOTS === '1') {
      await page.screenshot({ path: join(ROOT, 'docs', `${name}-dashboard.png`) });
    }

    expect(await answerNumber(page, 'stats')).toBeGreaterThan(statsBefore);
    expect(server.stats.refreshCalls).toBe(1);
    expect(server.stats.refreshSuccesses).toBe(1);
    expect(server.stats.reuseDetected).toBe(0);
    expect(server.stats.familiesRevoked).toBe(0);
    // The message went out once with the expired token (401) and was replayed; the poll and the
    // push were held at the gate and went out once, with the new token.
    expect(server.stats.api401).toBe(1);
    expect(server.stats.apiOk).toBe(3);
    expect(server.stats.apiRequests).toBe(4);
    expect(await countEvents(page, 'refresh:start')).toBe(1);
    expect(await countEvents(page, 'refresh:success')).toBe(1);
    const dom = await seen(page);
    expect(dom.refreshingShown).toBe(1);
    expect(dom.refreshingHidden).toBe(1);
    // useGateState() re-rendered for the storm's state changes only: no loop, none for nothing.
    const statusAfter = await gateStatus(page);
    expect(statusAfter.status).toBe('idle');
    const renders = statusAfter.renders - statusBefore.renders;
    const changes = statusAfter.changes - statusBefore.changes;
    expect(renders).toBeGreaterThanOrEqual(2);
    expect(renders).toBeLessThanOrEqual(changes);
    expect(renders).toBeLessThan(20);
    expectNoErrors(app);
    observations.expiryStorm = {
      refreshCalls: server.stats.refreshCalls,
      apiRequests: server.stats.apiRequests,
      api401: server.stats.api401,
      apiOk: server.stats.apiOk,
      indicator: dom,
      gateStatusRenders: renders,
      gateStateChanges: changes,
      failedResourceLines: app.failedResources.length,
    };
  });

  test('the refresh fails: the app lands on the login page once, without errors or request loops', async () => {
    const app = await openApp();
    const { page } = app;
    await logIn(app, 'alice');
    const loginShownBefore = (await seen(page)).loginShown;

    server.resetStats();
    proxy.reset();
    server.knobs.refreshFailure = 401;
    proxy.holdRefreshes();
    server.expireAll();
    const pageRequestsBefore = app.apiRequests.length;
    await fireAllThree(app);
    await proxy.release();
    await page.getByTestId('login-page').waitFor();
    await page.getByText('Your session expired').waitFor();
    await shot(app, 'session-expired');
    // The failure left the gate in its cooldown (the logout keeps it), shown by useGateState().
    const inCooldown = await gateStatus(page);
    expect(inCooldown.status).toBe('cooldown');

    const sentAtLogin = await page.evaluate(() => window.__sent!.length);
    const afterFailure = {
      apiRequests: server.stats.apiRequests,
      refreshCalls: server.stats.refreshCalls,
      pageRequests: app.apiRequests.length - pageRequestsBefore,
    };
    // Ten minutes of app time: a leaked poll, push or retry loop would send something here.
    await page.clock.runFor(600_000);
    await settleMicrotasks(page);
    expect(await page.evaluate(() => window.__sent!.length)).toBe(sentAtLogin);
    // The cooldown's end is no event and no request, only the gate's timer: useGateState() still
    // re-rendered for it, once.
    await page.locator('[data-testid="gate-status"][data-status="idle"]').waitFor();
    const cooledDown = await gateStatus(page);
    expect(cooledDown.events).toBe(inCooldown.events);
    expect(cooledDown.changes - inCooldown.changes).toBe(1);
    expect(cooledDown.renders - inCooldown.renders).toBe(1);

    expect((await seen(page)).loginShown).toBe(loginShownBefore + 1);
    expect(await countEvents(page, 'refresh:failure')).toBe(1);
    expect(server.stats.refreshCalls).toBe(1);
    expect(server.stats.refreshFailures).toBe(1);
    // Only the message reached the API (its 401 started the refresh); the held poll and push
    // were rejected at the gate and never sent.
    expect(afterFailure.apiRequests).toBe(1);
    expect(server.stats.apiRequests).toBe(afterFailure.apiRequests);
    expect(server.stats.refreshCalls).toBe(afterFailure.refreshCalls);
    // The message and the refresh; nothing more, not even after ten minutes.
    expect(app.apiRequests.length - pageRequestsBefore).toBe(2);
    expect(afterFailure.pageRequests).toBe(2);
    expectNoErrors(app);
    observations.refreshFails = {
      refreshCalls: server.stats.refreshCalls,
      apiRequests: server.stats.apiRequests,
      pageRequests: afterFailure.pageRequests,
      pageRequestsAfterTenMinutes: app.apiRequests.length - pageRequestsBefore,
      loginPageLandings: (await seen(page)).loginShown - loginShownBefore,
      cooldownEndRenders: cooledDown.renders - inCooldown.renders,
      failedResourceLines: app.failedResources.length,
    };
  });

  test('log in, log out during a refresh, log in again: no token of the first session is sent after logout', async () => {
    const app = await openApp();
    const { page } = app;
    await logIn(app, 'alice');
    const firstLogin = proxy.issued.at(-1)!.accessToken;

    proxy.holdRefreshes();
    server.expireAll();
    await fireAllThree(app);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByTestId('login-page').waitFor();
    await shot(app, 'logged-out');
    const mark = proxy.requests.length;
    // The refresh the logout abandoned still reaches the server, which rotates the session and
    // issues a token that must never be used.
    await proxy.release();
    const abandoned = proxy.issued.at(-1)!;
    expect(abandoned.path).toBe('/auth/refresh');

    await logIn(app, 'bob');
    const secondLogin = proxy.issued.at(-1)!;
    expect(secondLogin.path).toBe('/auth/login');
    const statsAtLogin = await answerNumber(page, 'stats');
    await page.clock.runFor(PERIOD_MS);
    await until(
      page,
      (n) => Number(document.querySelector('[data-testid="stats"]')?.getAttribute('data-n')) > n,
      statsAtLogin,
      'the next stats poll',
    );
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('[data-testid="message"][data-state="ok"]').waitFor();
    await page.locator('[data-testid="notifications"][data-state="ok"]').waitFor();
    await shot(app, 'second-session');

    const after = proxy.requests.slice(mark);
    const api = after.filter((r) => r.path.startsWith('/api/'));
    expect(api.map((r) => r.path).sort()).toEqual(
      ['/api/messages', '/api/notifications', '/api/stats', '/api/stats'].sort(),
    );
    for (const request of api) expect(request.token).toBe(secondLogin.accessToken);
    expect(api.every((r) => r.status === 200)).toBe(true);
    expect(after.filter((r) => r.path === '/auth/refresh')).toEqual([]);
    const firstSession = new Set([firstLogin, abandoned.accessToken]);
    expect(after.filter((r) => r.token !== null && firstSession.has(r.token))).toEqual([]);
    expect(await page.getByText('bob').count()).toBeGreaterThan(0);
    expectNoErrors(app);
    observations.logoutLogin = {
      requestsAfterLogout: after.length,
      apiRequestsAfterLogout: api.length,
      staleTokensAfterLogout: 0,
      refreshCalls: server.stats.refreshCalls,
      refreshAbortedByLogoutStillRotated: abandoned.path === '/auth/refresh',
      api401: server.stats.api401,
    };
  });

  return {
    get server() {
      return server;
    },
    get proxy() {
      return proxy;
    },
    observations,
    openApp,
    logIn,
    fireAllThree,
    answerNumber,
    expectNoErrors,
    shot,
  };
}
