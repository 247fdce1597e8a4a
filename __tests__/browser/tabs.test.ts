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
import {
  contending,
  fire,
  hold,
  locks,
  logIn,
  release,
  state,
  sum,
  until,
  useTabs,
} from '../helpers/tabs.js';

// Real browser tabs on a machine that may be busy: the scenarios take seconds, not milliseconds.
jest.setTimeout(90_000);

const env = useTabs();

describe.each([2, 5])('%i tabs whose tokens expire together, 20 requests each', (count) => {
  it('make exactly one refresh; all requests succeed and every tab ends with the new token', async () => {
    const tabs = await env.openTabs(count);
    const initial = await logIn(tabs);
    env.server.expireAll();
    env.server.resetStats();
    await hold(tabs);

    const fired = tabs.map((tab) => fire(tab, 20));
    await contending(tabs, 20, count - 1);
    // One tab is inside its refresh; the others wait for the lock, not for the server.
    expect(sum(await Promise.all(tabs.map(state)), 'refreshEntered')).toBe(1);
    expect(env.server.stats.refreshCalls).toBe(0);
    await release(tabs);

    const results = await Promise.all(fired);
    const states = await Promise.all(tabs.map(state));
    // One assertion over everything, so that a failure shows the whole picture.
    expect({ results, stats: env.server.stats, states }).toMatchObject({
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
  const tabs = await env.openTabs(2, { coordinator: 'tab' });
  await logIn(tabs);
  env.server.expireAll();
  env.server.resetStats();
  await hold(tabs);

  const fired = tabs.map((tab) => fire(tab, 20));
  await until(async () => {
    const states = await Promise.all(tabs.map(state));
    return states.every((s) => s.refreshEntered === 1 && s.waiting === 20);
  }, 'both tabs are inside their own refresh');
  await release(tabs);

  const results = await Promise.all(fired);
  expect(env.server.stats).toMatchObject({ refreshCalls: 2, reuseDetected: 1, familiesRevoked: 1 });
  // Revocation takes the winner's new tokens with it: requests fail, and the session is gone.
  expect(results.reduce((failed, result) => failed + result.failed, 0)).toBeGreaterThan(0);
  for (const tab of tabs) expect((await fire(tab, 1)).ok).toBe(0);
});

it('a tab closed while it holds the lock mid-refresh: another tab takes over within the refresh timeout', async () => {
  // The refresh timeout is long enough for a busy machine; what matters is that the other tab
  // completes its refresh (no REFRESH_TIMEOUT) and that nothing waits for the closed tab.
  const [holder, ...others] = await env.openTabs(3, { refreshTimeoutMs: '20000' });
  await logIn([holder!, ...others]);
  env.server.expireAll();
  env.server.resetStats();
  // The first refresh reaches the server and is never answered.
  env.server.knobs.refreshHang = true;

  const abandoned = fire(holder!, 20).catch((error: unknown) => error);
  await until(() => env.server.stats.refreshCalls === 1, 'the first refresh reaches the server');
  env.server.knobs.refreshHang = false;

  const fired = others.map((tab) => fire(tab, 20));
  await contending([holder!, ...others], 20, 2);
  await holder!.page.close();
  // The page's own fire() never settles: its tab is gone.
  expect(await abandoned).toBeInstanceOf(Error);

  const results = await Promise.all(fired);
  for (const result of results)
    expect(result).toEqual({ ok: 20, failed: 0, errors: {}, sameError: true });
  expect(env.server.stats).toMatchObject({
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

it('a refresh that keeps failing (503, retries spent) rejects every tab’s waiting requests with one error; onRefreshFailed runs once per tab', async () => {
  // A cooldown that outlasts the test, so that every tab still reports it at the end.
  const tabs = await env.openTabs(3, { cooldownMs: '600000' });
  const initial = await logIn(tabs);
  env.server.expireAll();
  env.server.resetStats();
  env.server.knobs.refreshFailure = 503;
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
  // Each tab tried three times (503 is transient: two retries in its flight), one tab at a time
  // under the lock; the tokens were left as they were.
  expect(env.server.stats).toMatchObject({
    refreshCalls: 9,
    refreshSuccesses: 0,
    concurrentRefreshMax: 1,
    familiesRevoked: 0,
  });
});

it('clear() in one tab logs out the others through the store', async () => {
  const tabs = await env.openTabs(3);
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
  const tabs = await env.openTabs(2, { coordinator: 'tab' });
  const token = await logIn(tabs);
  await tabs[0]!.page.evaluate(() => window.app!.clear());
  await until(async () => (await state(tabs[1]!)).changes.at(-1) === null, 'the other tab heard');
  expect((await state(tabs[1]!)).changes).toEqual([token, null]);
});
