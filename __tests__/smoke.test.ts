import axios from 'axios';
import MockAdapter from 'axios-mock-adapter';
import { attachRefreshGate } from '../src/index.js';
import { deferred, flush } from './helpers/deferred.js';

it('single flight smoke', async () => {
  const api = axios.create({ baseURL: 'https://api.test' });
  const mock = new MockAdapter(api);
  let current = 'old';
  mock
    .onGet('/x')
    .reply((config) =>
      config.headers?.Authorization === `Bearer ${current}` ? [200, { ok: true }] : [401],
    );
  const d = deferred<string>();
  const refresh = jest.fn(() => d.promise);
  const gate = attachRefreshGate(api, { refresh, initialTokens: { accessToken: 'stale' } });
  const all = Promise.allSettled(Array.from({ length: 10 }, () => api.get('/x')));
  await flush();
  expect(refresh).toHaveBeenCalledTimes(1);
  current = 'new';
  d.resolve('new');
  const results = await all;
  expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
  expect(gate.state).toEqual({ status: 'idle', waiting: 0, refreshes: 1, failures: 0 });
});
