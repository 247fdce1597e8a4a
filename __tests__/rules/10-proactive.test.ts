/**
 * Rule 10, proactive refresh: a request whose token expires within refreshBeforeExpiryMs starts or
 * joins a refresh before it is sent, and the store is read again under the lock (double-check).
 */
import {
  createRefreshGate,
  inProcessCoordinator,
  memoryStore,
  type RefreshGate,
  type RefreshGateOptions,
  type Tokens,
} from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import {
  controlledRefresh,
  countingStore,
  jwt,
  latchedCoordinator,
  mockApi,
  track,
} from '../helpers/gate-fixtures.js';

const NOW = 1_700_000_000_000;
const WINDOW = 30_000;

const gates: RefreshGate[] = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
  jest.useRealTimers();
});

beforeEach(() => {
  // Only the clock is faked: the tests read Date.now() through the gate, and flush() still turns.
  jest.useFakeTimers({ now: NOW, doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
});

function setup(options: Partial<RefreshGateOptions> & { initialTokens: Tokens }) {
  const server = mockApi('new');
  const control = controlledRefresh();
  const gate = createRefreshGate({ refresh: control.refresh, ...options });
  gates.push(gate);
  gate.attach(server.api);
  return { server, control, gate };
}

const fresh: Tokens = { accessToken: 'new', refreshToken: 'r2', expiresAt: NOW + 3_600_000 };

async function expectProactiveRefresh({ server, control }: ReturnType<typeof setup>) {
  const requests = ['/a', '/b', '/c'].map((url) => track(server.api.get(url)));
  await flush();

  // One refresh for all three, and nothing went out with the expiring token.
  expect(control.refresh).toHaveBeenCalledTimes(1);
  expect(control.call(0).ctx.reason).toBe('expiring');
  expect(server.sent()).toEqual([]);

  control.call(0).result.resolve(fresh);
  await flush();
  expect(requests.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  expect(server.sent()).toEqual([
    ['/a', 'Bearer new'],
    ['/b', 'Bearer new'],
    ['/c', 'Bearer new'],
  ]);
  expect(control.refresh).toHaveBeenCalledTimes(1);
}

describe('a token that expires within refreshBeforeExpiryMs is refreshed before sending', () => {
  it('reads the expiry from expiresAt', async () => {
    await expectProactiveRefresh(
      setup({ initialTokens: { accessToken: 'old', refreshToken: 'r1', expiresAt: NOW + 10_000 } }),
    );
  });

  it('reads the expiry from the JWT exp claim when there is no expiresAt', async () => {
    const token = jwt({ sub: 'alice', exp: (NOW + 10_000) / 1000 });
    await expectProactiveRefresh(setup({ initialTokens: { accessToken: token } }));
  });

  it('reads the expiry from getExpiry when given, instead of expiresAt', async () => {
    const getExpiry = jest.fn((tokens: Tokens) =>
      tokens.accessToken === 'old' ? NOW + 5_000 : undefined,
    );
    const ctx = setup({
      // expiresAt says "far away"; getExpiry says "now": getExpiry wins.
      initialTokens: { accessToken: 'old', expiresAt: NOW + 3_600_000 },
      getExpiry,
    });
    await expectProactiveRefresh(ctx);
    expect(getExpiry).toHaveBeenCalledWith(expect.objectContaining({ accessToken: 'old' }));
  });

  it('has a request that arrives during the proactive refresh join it', async () => {
    const { server, control } = setup({
      initialTokens: { accessToken: 'old', expiresAt: NOW + 1_000 },
    });
    const first = track(server.api.get('/a'));
    await flush();
    const late = track(server.api.get('/b'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    control.call(0).result.resolve(fresh);
    await flush();
    expect([first.status, late.status]).toEqual(['fulfilled', 'fulfilled']);
    expect(server.sent()).toEqual([
      ['/a', 'Bearer new'],
      ['/b', 'Bearer new'],
    ]);
  });

  it('counts an already expired token as expiring', async () => {
    await expectProactiveRefresh(
      setup({ initialTokens: { accessToken: 'old', expiresAt: NOW - 60_000 } }),
    );
  });
});

describe('a token outside the window', () => {
  it('is sent as is, with no refresh', async () => {
    const { server, control } = setup({
      initialTokens: { accessToken: 'new', expiresAt: NOW + WINDOW + 1_000 },
    });
    const sent = track(server.api.get('/a'));
    await flush();
    expect(sent.status).toBe('fulfilled');
    expect(control.refresh).not.toHaveBeenCalled();
    expect(server.sent()).toEqual([['/a', 'Bearer new']]);
  });

  it('is refreshed once the clock brings it into the window', async () => {
    const { server, control } = setup({
      initialTokens: { accessToken: 'new', expiresAt: NOW + WINDOW + 1_000 },
    });
    const first = track(server.api.get('/a'));
    await flush();
    expect(first.status).toBe('fulfilled');
    expect(control.refresh).not.toHaveBeenCalled();

    jest.setSystemTime(NOW + 2_000);
    const later = track(server.api.get('/b'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(control.call(0).ctx.reason).toBe('expiring');
    control.call(0).result.resolve({ accessToken: 'new', expiresAt: NOW + 3_600_000 });
    await flush();
    expect(later.status).toBe('fulfilled');
  });

  it('follows refreshBeforeExpiryMs', async () => {
    const { server, control } = setup({
      initialTokens: { accessToken: 'new', expiresAt: NOW + 10_000 },
      refreshBeforeExpiryMs: 5_000,
    });
    const sent = track(server.api.get('/a'));
    await flush();
    expect(sent.status).toBe('fulfilled');
    expect(control.refresh).not.toHaveBeenCalled();
  });

  it('is never refreshed for when it has no known expiry', async () => {
    const { server, control } = setup({ initialTokens: { accessToken: 'new' } });
    const sent = track(server.api.get('/a'));
    await flush();
    expect(sent.status).toBe('fulfilled');
    expect(control.refresh).not.toHaveBeenCalled();
  });
});

describe('double-check under the lock', () => {
  it('skips the refresh when another gate on the same coordinator refreshed meanwhile', async () => {
    const coordinator = inProcessCoordinator();
    const store = memoryStore();
    const serverA = mockApi('new');
    const serverB = mockApi('new');
    const a = controlledRefresh();
    const b = controlledRefresh();
    const initialTokens = { accessToken: 'old', refreshToken: 'r1', expiresAt: NOW + 1_000 };
    const gateA = createRefreshGate({ refresh: a.refresh, store, coordinator, initialTokens });
    const gateB = createRefreshGate({ refresh: b.refresh, store, coordinator });
    gates.push(gateA, gateB);
    gateA.attach(serverA.api);
    gateB.attach(serverB.api);

    // Gate A takes the shared lock and refreshes; gate B's expiring request queues for the lock.
    const manual = track(gateA.refresh());
    await flush();
    expect(a.refresh).toHaveBeenCalledTimes(1);
    const request = track(serverB.api.get('/b'));
    await flush();
    expect(gateB.state.status).toBe('refreshing');
    expect(b.refresh).not.toHaveBeenCalled();

    a.call(0).result.resolve(fresh);
    await flush();

    // B took the lock, found A's fresh token in the store and used it: no second refresh.
    expect(manual.status).toBe('fulfilled');
    expect(request.status).toBe('fulfilled');
    expect(b.refresh).not.toHaveBeenCalled();
    expect(serverB.sent()).toEqual([['/b', 'Bearer new']]);
    expect(gateB.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 0 });
  });

  it('skips the refresh when the store got a fresh token while the lock was awaited', async () => {
    const { coordinator, open } = latchedCoordinator();
    const { store, push } = countingStore({ accessToken: 'old', expiresAt: NOW + 1_000 });
    const server = mockApi('new');
    const control = controlledRefresh();
    const gate = createRefreshGate({ refresh: control.refresh, store, coordinator });
    gates.push(gate);
    gate.attach(server.api);

    const request = track(server.api.get('/a'));
    await flush();
    expect(gate.state.status).toBe('refreshing');

    push(fresh); // another tab logged in or refreshed
    open();
    await flush();

    expect(control.refresh).not.toHaveBeenCalled();
    expect(request.status).toBe('fulfilled');
    expect(server.sent()).toEqual([['/a', 'Bearer new']]);
  });

  it('adopts what the store holds under the lock when it is expiring too, but not expired', async () => {
    // Tokens that live less than refreshBeforeExpiryMs: a peer's fresh token is always "expiring".
    const { coordinator, open } = latchedCoordinator();
    const { store, push } = countingStore({ accessToken: 'old', expiresAt: NOW + 1_000 });
    const server = mockApi('other');
    const control = controlledRefresh();
    const gate = createRefreshGate({ refresh: control.refresh, store, coordinator });
    gates.push(gate);
    gate.attach(server.api);

    const request = track(server.api.get('/a'));
    await flush();
    push({ accessToken: 'other', expiresAt: NOW + 2_000 }); // replaced, expiring as well
    open();
    await flush();
    expect(control.refresh).not.toHaveBeenCalled();
    expect(request.status).toBe('fulfilled');
    expect(server.sent()).toEqual([['/a', 'Bearer other']]);
  });

  it('still refreshes when what the store holds under the lock is past its expiry', async () => {
    const { coordinator, open } = latchedCoordinator();
    const { store, push } = countingStore({ accessToken: 'old', expiresAt: NOW + 1_000 });
    const server = mockApi('new');
    const control = controlledRefresh();
    const gate = createRefreshGate({ refresh: control.refresh, store, coordinator });
    gates.push(gate);
    gate.attach(server.api);

    const request = track(server.api.get('/a'));
    await flush();
    push({ accessToken: 'other', expiresAt: NOW - 1 }); // replaced, but already expired
    open();
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(control.call(0).ctx.tokens).toMatchObject({ accessToken: 'other' });
    control.call(0).result.resolve(fresh);
    await flush();
    expect(request.status).toBe('fulfilled');
  });
});

describe('a short-lived token another member just obtained, read from the shared store before its announcement', () => {
  it('is used, not refreshed again: its window counts from when this gate saw it (one refresh in the scope)', async () => {
    // One shared synchronous store (localStorage, say); announcements that never arrive (still
    // on their way from the other tab).
    const store = memoryStore({
      accessToken: 'new',
      refreshToken: 'r1',
      expiresAt: NOW + 3_600_000,
    });
    const silent = { runExclusive: inProcessCoordinator().runExclusive };
    const server = mockApi('new');
    const peer = controlledRefresh();
    const other = createRefreshGate({ refresh: peer.refresh, store, coordinator: silent });
    const control = controlledRefresh();
    const gate = createRefreshGate({ refresh: control.refresh, store, coordinator: silent });
    gates.push(other, gate);
    gate.attach(server.api);
    await expect(server.api.get('/before')).resolves.toMatchObject({ status: 200 });

    // The other member refreshes: its new token lives 10 s, less than the 30 s window.
    const refreshing = other.refresh();
    await flush();
    peer
      .call(0)
      .result.resolve({ accessToken: 'short', refreshToken: 'r2', expiresAt: NOW + 10_000 });
    await refreshing;
    server.current = 'short';

    const sent = track(server.api.get('/after'));
    await flush();
    expect(sent.status).toBe('fulfilled');
    expect(control.refresh).not.toHaveBeenCalled();
    expect(server.sent().at(-1)).toEqual(['/after', 'Bearer short']);

    // Half its life later it is due: this gate refreshes it then.
    jest.setSystemTime(NOW + 5_001);
    const later = track(server.api.get('/later'));
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(control.call(0).ctx.reason).toBe('expiring');
    control.call(0).result.resolve({ ...fresh, accessToken: 'newer' });
    server.current = 'newer';
    await flush();
    expect(later.status).toBe('fulfilled');
  });
});
