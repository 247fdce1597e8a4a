/**
 * resumeRefresh: a page that wakes up (visible again, back online, restored from the
 * back/forward cache) refreshes a token that expired meanwhile before its first request, which
 * then waits for that one refresh; a fresh token costs nothing. A fake window and document.
 */
import { resumeRefresh } from '../../src/browser/index.js';
import { createRefreshGate, RefreshGateError, type Tokens } from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import { controlledRefresh, mockApi, track } from '../helpers/gate-fixtures.js';

const NOW = 1_700_000_000_000;

function page() {
  const document = Object.assign(new EventTarget(), { visibilityState: 'hidden' });
  const window = Object.assign(new EventTarget(), { document });
  const show = () => {
    document.visibilityState = 'visible';
    document.dispatchEvent(new Event('visibilitychange'));
  };
  return { window, document, show };
}

const gates: Array<{ destroy(): void }> = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
  jest.useRealTimers();
});
beforeEach(() => {
  jest.useFakeTimers({ now: NOW, doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
});

function setup(expiresAt: number) {
  const server = mockApi('new');
  const control = controlledRefresh();
  const initialTokens: Tokens = { accessToken: 'old', refreshToken: 'r0', expiresAt };
  const gate = createRefreshGate({ refresh: control.refresh, initialTokens });
  gates.push(gate);
  gate.attach(server.api);
  return { server, control, gate };
}

it('the page becomes visible with an expired token: one refresh at once, the first request waits for it', async () => {
  const { server, control, gate } = setup(NOW + 3_600_000);
  const { window, show } = page();
  const stop = resumeRefresh(gate, { target: window });
  // The laptop sleeps past the token's life.
  jest.setSystemTime(NOW + 7_200_000);
  show();
  await flush();
  expect(control.refresh).toHaveBeenCalledTimes(1);
  expect(control.call(0).ctx.reason).toBe('expiring');
  const first = track(server.api.get('/first'));
  await flush();
  expect(control.refresh).toHaveBeenCalledTimes(1);
  control
    .call(0)
    .result.resolve({ accessToken: 'new', refreshToken: 'r1', expiresAt: NOW + 10_800_000 });
  await flush();
  expect(first.status).toBe('fulfilled');
  expect(server.sent()).toEqual([['/first', 'Bearer new']]);
  stop();
});

it('online and pageshow wake it too; a fresh token costs nothing; stop() removes every listener', async () => {
  const { control, gate } = setup(NOW + 3_600_000);
  const { window, show } = page();
  const stop = resumeRefresh(gate, { target: window });
  show();
  window.dispatchEvent(new Event('online'));
  await flush();
  expect(control.refresh).not.toHaveBeenCalled();
  jest.setSystemTime(NOW + 7_200_000);
  window.dispatchEvent(new Event('online'));
  await flush();
  expect(control.refresh).toHaveBeenCalledTimes(1);
  control
    .call(0)
    .result.resolve({ accessToken: 'new', refreshToken: 'r1', expiresAt: NOW + 10_800_000 });
  await flush();
  stop();
  jest.setSystemTime(NOW + 20_000_000);
  window.dispatchEvent(new Event('online'));
  window.dispatchEvent(new Event('pageshow'));
  show();
  await flush();
  expect(control.refresh).toHaveBeenCalledTimes(1);
});

it('a destroyed gate or a failing refresh leaves no unhandled rejection; a bad gate is refused', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const { gate } = setup(NOW - 1);
    const { window, show } = page();
    resumeRefresh(gate, { target: window });
    gate.destroy();
    show();
    await flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  expect(() => resumeRefresh({} as never)).toThrow(RefreshGateError);
});
