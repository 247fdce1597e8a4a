/**
 * Rule 15, sharing: one gate attached to several instances shares one lock and one token; two gates
 * are independent. (axios-jwt keeps its lock in module globals, so one hanging refresh holds every
 * client in the process.)
 */
import {
  createRefreshGate,
  inProcessCoordinator,
  memoryStore,
  type RefreshContext,
  type RefreshGate,
  type Tokens,
} from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import { controlledRefresh, mockApi, track } from '../helpers/gate-fixtures.js';

const gates: RefreshGate[] = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
});

describe('one gate on two instances', () => {
  it('runs one refresh for 401s on both and replays both with the same token', async () => {
    const one = mockApi('new', 'https://one.test');
    const two = mockApi('new', 'https://two.test');
    const control = controlledRefresh();
    const gate = createRefreshGate({
      refresh: control.refresh,
      initialTokens: { accessToken: 'old' },
    });
    gates.push(gate);
    gate.attach(one.api);
    gate.attach(two.api);

    const requests = [
      track(one.api.get('/a')),
      track(two.api.get('/b')),
      track(one.api.get('/c')),
      track(two.api.get('/d')),
    ];
    await flush();
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(gate.state.waiting).toBe(4);

    control.call(0).result.resolve('new');
    await flush();
    expect(requests.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(control.refresh).toHaveBeenCalledTimes(1);
    expect(one.sent().slice(-2)).toEqual([
      ['/a', 'Bearer new'],
      ['/c', 'Bearer new'],
    ]);
    expect(two.sent().slice(-2)).toEqual([
      ['/b', 'Bearer new'],
      ['/d', 'Bearer new'],
    ]);
  });

  it('holds requests on the second instance while a refresh started by the first runs', async () => {
    const one = mockApi('new', 'https://one.test');
    const two = mockApi('new', 'https://two.test');
    const control = controlledRefresh();
    const gate = createRefreshGate({
      refresh: control.refresh,
      initialTokens: { accessToken: 'old' },
    });
    gates.push(gate);
    gate.attach(one.api);
    gate.attach(two.api);

    const first = track(one.api.get('/a'));
    await flush();
    const held = track(two.api.get('/b'));
    await flush();
    expect(two.sent()).toEqual([]);

    control.call(0).result.resolve('new');
    await flush();
    expect([first.status, held.status]).toEqual(['fulfilled', 'fulfilled']);
    expect(two.sent()).toEqual([['/b', 'Bearer new']]);
    expect(control.refresh).toHaveBeenCalledTimes(1);
  });
});

describe('two gates', () => {
  it('are independent: a hanging refresh in gate A does not hold gate B', async () => {
    const serverA = mockApi('a-new', 'https://a.test');
    const serverB = mockApi('b-old', 'https://b.test');
    const a = controlledRefresh();
    const b = controlledRefresh();
    const gateA = createRefreshGate({
      refresh: a.refresh,
      initialTokens: { accessToken: 'a-old' },
    });
    const gateB = createRefreshGate({
      refresh: b.refresh,
      initialTokens: { accessToken: 'b-old' },
    });
    gates.push(gateA, gateB);
    gateA.attach(serverA.api);
    gateB.attach(serverB.api);

    // Gate A's refresh starts and never ends.
    const hanging = track(serverA.api.get('/a'));
    await flush();
    expect(gateA.state.status).toBe('refreshing');

    // Gate B's requests go out at once.
    await expect(serverB.api.get('/b1')).resolves.toMatchObject({ status: 200 });
    expect(gateB.state).toMatchObject({ status: 'idle', waiting: 0 });

    // And gate B runs its own refresh while A's still hangs.
    serverB.current = 'b-new';
    const needsRefresh = track(serverB.api.get('/b2'));
    await flush();
    expect(b.refresh).toHaveBeenCalledTimes(1);
    b.call(0).result.resolve('b-new');
    await flush();
    expect(needsRefresh.status).toBe('fulfilled');
    expect(serverB.sent().at(-1)).toEqual(['/b2', 'Bearer b-new']);

    expect(hanging.status).toBe('pending');
    expect(gateA.state).toMatchObject({ status: 'refreshing', waiting: 1 });
    expect(a.refresh).toHaveBeenCalledTimes(1);
    const tokenA = track(gateA.getAccessToken());
    await flush();
    expect(tokenA.status).toBe('pending');
  });

  it('keep their own tokens and events', async () => {
    const gateA = createRefreshGate({
      refresh: async () => 'a2',
      initialTokens: { accessToken: 'a1' },
    });
    const gateB = createRefreshGate({
      refresh: async () => 'b2',
      initialTokens: { accessToken: 'b1' },
    });
    gates.push(gateA, gateB);
    const eventsB = jest.fn();
    gateB.on('tokens:changed', eventsB);

    await gateA.refresh();
    await gateA.setTokens({ accessToken: 'a3' });
    expect(await gateA.getAccessToken()).toBe('a3');
    expect(await gateB.getAccessToken()).toBe('b1');
    expect(eventsB).not.toHaveBeenCalled();
    expect(gateB.state).toMatchObject({ status: 'idle', waiting: 0, refreshes: 0, failures: 0 });

    await gateA.clear();
    expect(await gateB.getAccessToken()).toBe('b1');
  });

  it('keep their own failures and cooldown', async () => {
    const gateA = createRefreshGate({
      refresh: () => Promise.reject(new Error('A is down')),
      initialTokens: { accessToken: 'a1' },
    });
    const gateB = createRefreshGate({
      refresh: async () => 'b2',
      initialTokens: { accessToken: 'b1' },
    });
    gates.push(gateA, gateB);
    await expect(gateA.refresh()).rejects.toThrow('A is down');
    expect(gateA.state.status).toBe('cooldown');
    expect(gateB.state.status).toBe('idle');
    await expect(gateB.refresh()).resolves.toMatchObject({ accessToken: 'b2' });
  });
});

describe('gates that share a coordinator and a store', () => {
  // issue 10 item 6
  const NOW = 1_700_000_000_000;
  const LIFETIME = 2_000; // less than refreshBeforeExpiryMs (30 s by default)
  afterEach(() => {
    jest.useRealTimers();
  });

  it('run exactly one refresh for all three at each expiry of a token that lives less than refreshBeforeExpiryMs: the others adopt the fresh token under the lock', async () => {
    jest.useFakeTimers({ now: NOW, doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const coordinator = inProcessCoordinator();
    const store = memoryStore({ accessToken: 'T0', refreshToken: 'r0', expiresAt: NOW + LIFETIME });
    const refreshedBy: string[] = [];
    const names = ['a', 'b', 'c'];
    const members = names.map((name) => {
      const refresh = jest.fn(async (_ctx: RefreshContext): Promise<Tokens> => {
        refreshedBy.push(name);
        const n = refreshedBy.length;
        return { accessToken: `T${n}`, refreshToken: `r${n}`, expiresAt: Date.now() + LIFETIME };
      });
      const gate = createRefreshGate({ refresh, store, coordinator });
      gates.push(gate);
      const server = mockApi(null, `https://${name}.test`);
      gate.attach(server.api);
      return { gate, server };
    });

    /** One request on every gate at once; answers the tokens they were sent with. */
    async function everyGateRequests(url: string) {
      const requests = members.map(({ server }) => track(server.api.get(url)));
      await flush();
      expect(requests.map((request) => request.status)).toEqual([
        'fulfilled',
        'fulfilled',
        'fulfilled',
      ]);
      return members.map(({ server }) => server.sent().at(-1));
    }

    // T0 comes from the store: within the full window, so each gate wants a refresh; one runs.
    expect(await everyGateRequests('/0')).toEqual(names.map(() => ['/0', 'Bearer T1']));
    expect(refreshedBy).toHaveLength(1);

    // Still fresh for its age: used as is by every gate, no refresh.
    await jest.advanceTimersByTimeAsync(500);
    expect(await everyGateRequests('/1')).toEqual(names.map(() => ['/1', 'Bearer T1']));
    expect(refreshedBy).toHaveLength(1);

    // 500 ms before each expiry: one refresh for the three of them, every time.
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await everyGateRequests('/2')).toEqual(names.map(() => ['/2', 'Bearer T2']));
    expect(refreshedBy).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(1_500);
    expect(await everyGateRequests('/3')).toEqual(names.map(() => ['/3', 'Bearer T3']));
    expect(refreshedBy).toHaveLength(3);

    for (const { gate } of members)
      expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
    expect(members.reduce((sum, { gate }) => sum + gate.state.refreshes, 0)).toBe(3);
  });
});
