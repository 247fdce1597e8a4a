/**
 * The React example's own tests, on top of the suite both examples run: its data layer is
 * TanStack Query (examples/react/src/query.ts: `shouldRetry`, `createQueryClient`; the logout is
 * `await gate.clear(); queryClient.clear();`), and it logs the gate's events with timings when
 * asked to (`?debug=gate`, examples/react/src/debug.ts).
 *
 * Same setup as example-suite.ts: a paused fake clock in the page (the poll and the push fire
 * when a test runs it, and so do TanStack's retry delays), refreshes parked at the recording
 * proxy until the test releases them. Every assertion is a count.
 *
 * The page's QueryClient is `window.__TANSTACK_QUERY_CLIENT__`, where TanStack's devtools look.
 */
import type { Page } from 'playwright-core';
import {
  type AppPage,
  countEvents,
  type ExampleSuite,
  PERIOD_MS,
  seen,
  settle,
  settleMicrotasks,
  until,
} from './example-suite.js';

/** The part of the page's QueryClient the tests use. */
interface PageQueryClient {
  invalidateQueries(): Promise<void>;
  cancelQueries(): Promise<void>;
  getQueryCache(): {
    getAll(): {
      queryKey: readonly unknown[];
      state: { status: string; fetchStatus: string; fetchFailureCount: number };
    }[];
  };
  getMutationCache(): { getAll(): unknown[] };
}

declare global {
  interface Window {
    __TANSTACK_QUERY_CLIENT__?: PageQueryClient;
  }
}

/** What a dashboard card shows: its `data-*` attributes. */
const card = (page: Page, testId: string) =>
  page.evaluate((id) => {
    const element = document.querySelector(`[data-testid="${id}"]`);
    return {
      state: element?.getAttribute('data-state') ?? null,
      n: element?.hasAttribute('data-n') ? Number(element.getAttribute('data-n')) : null,
      user: element?.getAttribute('data-user') ?? null,
      error: element?.getAttribute('data-error') ?? null,
    };
  }, testId);

const cacheSize = (page: Page) =>
  page.evaluate(() => {
    const client = window.__TANSTACK_QUERY_CLIENT__!;
    return {
      queries: client.getQueryCache().getAll().length,
      mutations: client.getMutationCache().getAll().length,
    };
  });

/** Per query (by its key's first part): its status and how often its current fetch failed. */
const queryStates = (page: Page) =>
  page.evaluate(() =>
    Object.fromEntries(
      window
        .__TANSTACK_QUERY_CLIENT__!.getQueryCache()
        .getAll()
        .map(({ queryKey, state }) => [
          String(queryKey[0]),
          `${state.status} ${state.fetchStatus} failures=${state.fetchFailureCount}`,
        ]),
    ),
  );

const sentCount = (page: Page) => page.evaluate(() => window.__sent!.length);

/** `METHOD path` of the API requests the server received since `mark` (the proxy's records). */
const apiSince = (suite: ExampleSuite, mark: number) =>
  suite.proxy.requests
    .slice(mark)
    .filter((r) => r.path.startsWith('/api/'))
    .map((r) => `${r.method} ${r.path}`);

export function reactQueryTests(suite: ExampleSuite): void {
  /** Logs in and lets one push arrive, so both queries hold data; returns their answers' numbers. */
  async function dashboardWithData(app: AppPage, username = 'alice') {
    const { page } = app;
    await suite.logIn(app, username);
    await page.clock.runFor(PERIOD_MS);
    await page.locator('[data-testid="notifications"][data-state="ok"]').waitFor();
    await settle(page);
    return {
      stats: (await card(page, 'stats')).n!,
      notifications: (await card(page, 'notifications')).n!,
    };
  }

  /** Expires every token and parks refreshes at the proxy; zeroes the counters. */
  function expireWithRefreshHeld(): void {
    suite.server.resetStats();
    suite.proxy.reset();
    suite.proxy.holdRefreshes();
    suite.server.expireAll();
  }

  describe('TanStack Query', () => {
    test('every query refetches at once with an expired token: one refresh, every query shows new data', async () => {
      const app = await suite.openApp();
      const { page } = app;
      const before = await dashboardWithData(app);

      expireWithRefreshHeld();
      const queuedBefore = await countEvents(page, 'request:queued');
      await page.evaluate(() => void window.__TANSTACK_QUERY_CLIENT__!.invalidateQueries());
      await suite.proxy.parked(1);
      await until(
        page,
        (count) =>
          (window.__gateEvents ?? []).filter((x) => x.event === 'request:queued').length >= count,
        queuedBefore + 2,
        'both queries to wait for the refresh',
      );
      await suite.proxy.release();
      await until(
        page,
        (n) => Number(document.querySelector('[data-testid="stats"]')?.getAttribute('data-n')) > n,
        before.stats,
        'the stats query to show new data',
      );
      await until(
        page,
        (n) =>
          Number(document.querySelector('[data-testid="notifications"]')?.getAttribute('data-n')) >
          n,
        before.notifications,
        'the notifications query to show new data',
      );
      await settle(page);

      const { stats } = suite.server;
      expect(stats.refreshCalls).toBe(1);
      expect(stats.refreshSuccesses).toBe(1);
      expect(stats.reuseDetected).toBe(0);
      // Each query got one answer; a query sent before the refresh started got a 401 and was
      // replayed, one sent after it was held at the gate and went out once.
      expect(stats.apiOk).toBe(2);
      expect(stats.api401).toBe(await countEvents(page, 'request:replayed'));
      expect(stats.apiRequests).toBe(2 + stats.api401);
      const refreshed = suite.proxy.issued.at(-1)!;
      expect(refreshed.path).toBe('/auth/refresh');
      const answered = suite.proxy.requests.filter(
        (r) => r.path.startsWith('/api/') && r.status === 200,
      );
      expect(answered.map((r) => r.token)).toEqual([refreshed.accessToken, refreshed.accessToken]);
      expect((await card(page, 'stats')).state).toBe('ok');
      expect((await card(page, 'notifications')).state).toBe('ok');
      suite.expectNoErrors(app);
      suite.observations.queryStorm = {
        refreshCalls: stats.refreshCalls,
        apiRequests: stats.apiRequests,
        api401: stats.api401,
      };
    });

    test('log out while queries are on the wire: they are aborted, the cache is empty, no old token is sent again', async () => {
      const app = await suite.openApp();
      const { page } = app;
      await dashboardWithData(app);
      const alice = suite.proxy.issued.at(-1)!.accessToken;

      // The next poll and push reach the server, which holds its answers.
      suite.server.knobs.apiLatencyMs = 60_000;
      const received = suite.server.stats.apiRequests;
      await page.clock.runFor(PERIOD_MS);
      await until(page, () => window.__inflight === 2, 0, 'the poll and the push on the wire');
      while (suite.server.stats.apiRequests < received + 2)
        await new Promise((r) => setTimeout(r, 10));
      const mark = suite.proxy.requests.length;
      const failedBefore = app.failedRequests.length;

      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByTestId('login-page').waitFor();
      await settle(page);
      // queryClient.clear() canceled both queries, and their signals aborted the requests.
      expect(app.failedRequests.slice(failedBefore).sort()).toEqual([
        'GET /api/notifications net::ERR_ABORTED',
        'GET /api/stats net::ERR_ABORTED',
      ]);
      expect(await cacheSize(page)).toEqual({ queries: 0, mutations: 0 });
      // Ten minutes of app time: no poll, no push, no retry of an aborted query.
      suite.server.knobs.apiLatencyMs = 0;
      const sentAtLogout = await sentCount(page);
      await page.clock.runFor(600_000);
      await settle(page);
      expect(await sentCount(page)).toBe(sentAtLogout);
      expect(suite.proxy.requests.slice(mark)).toEqual([]);

      // The next session starts empty: bob's data only, no notification of alice's.
      await suite.logIn(app, 'bob');
      const bob = suite.proxy.issued.at(-1)!;
      expect(bob.path).toBe('/auth/login');
      expect((await card(page, 'stats')).user).toBe('bob');
      expect((await card(page, 'notifications')).state).toBe('idle');
      await page.clock.runFor(PERIOD_MS);
      await page.locator('[data-testid="notifications"][data-state="ok"]').waitFor();
      await settle(page);
      expect((await card(page, 'notifications')).user).toBe('bob');
      const after = suite.proxy.requests.slice(mark).filter((r) => r.path.startsWith('/api/'));
      expect(after.map((r) => r.path).sort()).toEqual([
        '/api/notifications',
        '/api/stats',
        '/api/stats',
      ]);
      expect(after.filter((r) => r.token === alice)).toEqual([]);
      expect(after.every((r) => r.token === bob.accessToken && r.status === 200)).toBe(true);
      suite.expectNoErrors(app);
    });

    test('a transient refresh failure: each query tries again once into the cooldown and stops; a refused one lands on the login page once', async () => {
      const app = await suite.openApp();
      const { page } = app;
      await dashboardWithData(app);
      const loginShownBefore = (await seen(page)).loginShown;

      // 503: transient, so the gate tries the refresh again twice (refreshRetry) before failing,
      // and the app keeps the session (it ends it on a terminal failure only).
      suite.server.knobs.refreshFailure = 503;
      expireWithRefreshHeld();
      await suite.fireAllThree(app);
      await suite.proxy.release();
      for (let i = 0; (await countEvents(page, 'refresh:failure')) === 0; i++) {
        if (i === 100) throw new Error('the refresh did not fail');
        // The gate's retry delays (full jitter, under 1 s in all) run on the fake clock.
        await page.clock.runFor(100);
        await settle(page);
      }
      await settle(page);
      expect(suite.server.stats.refreshCalls).toBe(3);
      expect(await countEvents(page, 'refresh:retry')).toBe(2);
      expect((await card(page, 'stats')).state).not.toBe('error'); // waiting for its retry
      await page.getByTestId('dashboard').waitFor();
      expect((await card(page, 'message')).state).toBe('error'); // a mutation: no retry
      const cooldownStart = suite.proxy.requests.length;
      const atFailure = suite.server.stats.apiRequests;

      // The cooldown is 5 s from the failure. TanStack retries each query once, after 1 s: its
      // request gets a 401 and the gate answers COOLDOWN, which shouldRetry does not retry. Each
      // query has failed twice in this fetch (the refresh's error, then COOLDOWN) and is done.
      await page.clock.runFor(1000);
      await settle(page);
      expect(apiSince(suite, cooldownStart).sort()).toEqual([
        'GET /api/notifications',
        'GET /api/stats',
      ]);
      expect(await card(page, 'stats')).toMatchObject({ state: 'error', error: 'COOLDOWN' });
      expect(await card(page, 'notifications')).toMatchObject({
        state: 'error',
        error: 'COOLDOWN',
      });
      expect(await queryStates(page)).toEqual({
        stats: 'error idle failures=2',
        notifications: 'error idle failures=2',
      });
      // The rest of the cooldown: no further retry (TanStack's default would retry after 2 s and
      // 4 s more). The push, on its fixed period, fires once in it and gets COOLDOWN, unretried;
      // the stats poll, whose period restarts with every update of its query, falls at the end.
      await page.clock.runFor(3999);
      await settle(page);
      expect(apiSince(suite, cooldownStart).sort()).toEqual([
        'GET /api/notifications',
        'GET /api/notifications',
        'GET /api/stats',
      ]);
      expect(suite.server.stats.apiRequests - atFailure).toBe(3);
      expect(suite.server.stats.api401).toBe(1 + 3);
      expect(suite.server.stats.refreshCalls).toBe(3);
      expect(await queryStates(page)).toEqual({
        stats: 'error idle failures=2',
        notifications: 'error idle failures=1',
      });
      expect(await page.getByTestId('gate-status').getAttribute('data-status')).toBe('cooldown');

      // The provider now refuses: once the cooldown is over, the next poll's 401 starts a
      // refresh that fails terminally.
      suite.server.knobs.refreshFailure = 401;
      await page.clock.runFor(PERIOD_MS);
      await page.getByTestId('login-page').waitFor();
      await page.getByText('Your session expired').waitFor();
      await settle(page);
      expect(suite.server.stats.refreshCalls).toBe(4);
      expect(await countEvents(page, 'refresh:failure')).toBe(2);
      const sentAtLogin = await sentCount(page);
      await page.clock.runFor(600_000);
      await settle(page);
      expect(await sentCount(page)).toBe(sentAtLogin);
      expect((await seen(page)).loginShown).toBe(loginShownBefore + 1);
      expect(await cacheSize(page)).toEqual({ queries: 0, mutations: 0 });
      suite.expectNoErrors(app);
      suite.observations.transientFailure = {
        refreshCalls: suite.server.stats.refreshCalls,
        apiRequestsInCooldown: 3,
        loginPageLandings: (await seen(page)).loginShown - loginShownBefore,
      };
    });

    test('queries canceled while they wait for the refresh are never sent and not retried', async () => {
      const app = await suite.openApp();
      const { page } = app;
      const before = await dashboardWithData(app);

      expireWithRefreshHeld();
      await suite.fireAllThree(app);
      const mark = suite.proxy.requests.length;
      await page.evaluate(() => window.__TANSTACK_QUERY_CLIENT__!.cancelQueries());
      await settleMicrotasks(page);
      // Canceled queries go back to what they showed.
      expect(await card(page, 'stats')).toMatchObject({ state: 'ok', n: before.stats });
      expect(await card(page, 'notifications')).toMatchObject({
        state: 'ok',
        n: before.notifications,
      });
      await suite.proxy.release();
      await page.locator('[data-testid="message"][data-state="ok"]').waitFor();
      await settle(page);
      // Past both of TanStack's retry delays (1 s, 2 s), short of the next poll and push.
      await page.clock.runFor(PERIOD_MS - 1);
      await settle(page);
      expect(apiSince(suite, mark)).toEqual(['POST /api/messages']);
      expect(await card(page, 'stats')).toMatchObject({ state: 'ok', n: before.stats });

      // The queries were canceled, not broken: the next poll and push load with the new token.
      await page.clock.runFor(1);
      await until(
        page,
        (n) => Number(document.querySelector('[data-testid="stats"]')?.getAttribute('data-n')) > n,
        before.stats,
        'the next poll',
      );
      await page.locator('[data-testid="notifications"][data-state="ok"]').waitFor();
      await settle(page);
      expect(apiSince(suite, mark).sort()).toEqual([
        'GET /api/notifications',
        'GET /api/stats',
        'POST /api/messages',
      ]);
      expect(suite.server.stats.refreshCalls).toBe(1);
      suite.expectNoErrors(app);
    });
  });

  describe('debug log (?debug=gate)', () => {
    test('prints every event of a storm with its timing', async () => {
      const app = await suite.openApp('/?debug=gate');
      const { page } = app;
      await suite.logIn(app, 'alice');
      await settle(page);
      const mark = app.consoleLines.length;

      expireWithRefreshHeld();
      await suite.fireAllThree(app);
      await suite.proxy.release();
      await page.locator('[data-testid="message"][data-state="ok"]').waitFor();
      await page.locator('[data-testid="notifications"][data-state="ok"]').waitFor();
      await settle(page);

      const lines = app.consoleLines.slice(mark).filter((l) => l.startsWith('debug: [gate] '));
      const pattern = /^debug: \[gate\] \+\d+\.\d ms \(at \d+\.\d ms\) (\S+)(?: (.*))?$/;
      const parsed = lines.map((line) => {
        const match = pattern.exec(line);
        if (!match) throw new Error(`unexpected line: ${line}`);
        return { what: match[1]!, detail: match[2] ?? '' };
      });
      // The message's 401 starts the refresh and queues it; the poll and the push are held before
      // they are sent; the refresh ends, the tokens change, and the message is sent again (the
      // held two are sent for the first time, no replay).
      expect(parsed.filter((p) => p.what !== 'state').map((p) => `${p.what} ${p.detail}`)).toEqual([
        'refresh:start reason=unauthorized',
        'request:queued POST /api/messages reason=unauthorized',
        expect.stringMatching(/^request:queued GET \/api\/(stats|notifications) reason=held$/),
        expect.stringMatching(/^request:queued GET \/api\/(stats|notifications) reason=held$/),
        'refresh:success reason=unauthorized refreshed=true',
        'tokens:changed new tokens',
        'request:replayed POST /api/messages replays=1',
      ]);
      // And the state changes between them, ending idle after one refresh.
      const states = parsed.filter((p) => p.what === 'state').map((p) => p.detail);
      expect(states[0]).toBe('refreshing waiting=0 refreshes=0 failures=0');
      expect(states.at(-1)).toBe('idle waiting=0 refreshes=1 failures=0');
      expect(states).toHaveLength(5);
      // Tokens never reach the log.
      expect(lines.some((line) => line.includes(suite.proxy.issued.at(-1)!.accessToken))).toBe(
        false,
      );
      suite.expectNoErrors(app);
    });
  });
}
