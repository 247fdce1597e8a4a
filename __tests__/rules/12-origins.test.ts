/**
 * Rule 12, origins: the token goes only to allowed origins; other requests pass untouched, are never
 * held and never trigger a refresh. (axios-auth-refresh refreshes on any 401, so a third-party 401
 * spends our refresh token and then sends our new access token to the third party.)
 */
import axios from 'axios';
import MockAdapter from 'axios-mock-adapter';
import { createRefreshGate, type RefreshGate, type RefreshGateOptions } from '../../src/index.js';
import { flush } from '../helpers/deferred.js';
import {
  authOf,
  BASE,
  controlledRefresh,
  mockApi,
  spyLogger,
  track,
} from '../helpers/gate-fixtures.js';

const gates: RefreshGate[] = [];
afterEach(() => {
  for (const gate of gates.splice(0)) gate.destroy();
});

/** A gate on an instance whose mock API accepts any request and records what it got. */
function setup(options: Partial<RefreshGateOptions> = {}, baseURL: string | null = BASE) {
  const server = mockApi(null, baseURL);
  const control = controlledRefresh();
  const gate = createRefreshGate({
    refresh: control.refresh,
    initialTokens: { accessToken: 'tok' },
    ...options,
  });
  gates.push(gate);
  gate.attach(server.api);
  /** The Authorization header the adapter saw on the request to `url`. */
  const authFor = async (url: string, config: Parameters<typeof server.api.get>[1] = {}) => {
    const response = await server.api.get<{ auth?: string }>(url, config);
    return response.data.auth;
  };
  return { server, control, gate, authFor };
}

describe('the default: relative URLs and the instance baseURL origin', () => {
  it('attaches the token to relative URLs and absolute URLs on the baseURL origin', async () => {
    const { authFor } = setup();
    expect(await authFor('/me')).toBe('Bearer tok');
    expect(await authFor('me')).toBe('Bearer tok');
    expect(await authFor(`${BASE}/other/path`)).toBe('Bearer tok');
    expect(await authFor('https://API.test:443/x')).toBe('Bearer tok');
  });

  it('does not attach it to an absolute URL on another host, scheme or port', async () => {
    const { authFor } = setup();
    expect(await authFor('https://evil.test/steal')).toBeUndefined();
    expect(await authFor('http://api.test/x')).toBeUndefined();
    expect(await authFor('https://api.test:8443/x')).toBeUndefined();
    expect(await authFor('https://api.test.evil.test/x')).toBeUndefined();
    expect(await authFor('//evil.test/x')).toBeUndefined();
  });

  it('keeps a header the caller set on a foreign request', async () => {
    const { authFor } = setup();
    const headers = { Authorization: 'Basic dXNlcjpwYXNz' };
    expect(await authFor('https://partner.test/x', { headers })).toBe('Basic dXNlcjpwYXNz');
  });

  it('sends no token when a per-request baseURL points at another host', async () => {
    const { authFor } = setup();
    expect(await authFor('/x', { baseURL: 'https://evil.test' })).toBeUndefined();
    expect(await authFor('/x', { baseURL: `${BASE}/v2` })).toBe('Bearer tok');
  });

  it('never refreshes for a 401 from a foreign origin, and the caller sees that 401', async () => {
    const api = axios.create({ baseURL: BASE });
    const mock = new MockAdapter(api);
    mock.onGet('https://third-party.test/widget').reply(401);
    mock.onGet('/me').reply((config) => [200, { auth: authOf(config) }]);
    const control = controlledRefresh();
    const gate = createRefreshGate({
      refresh: control.refresh,
      initialTokens: { accessToken: 'tok' },
    });
    gates.push(gate);
    gate.attach(api);

    const widget = track(api.get('https://third-party.test/widget'));
    await flush();
    const error = widget.error;
    expect(axios.isAxiosError(error) && error.response?.status).toBe(401);
    expect(control.refresh).not.toHaveBeenCalled();
    expect(gate.state).toMatchObject({ status: 'idle', waiting: 0 });
    // Our own session is untouched and still works.
    await expect(api.get('/me')).resolves.toMatchObject({ data: { auth: 'Bearer tok' } });
    // The third party never saw our token, not even on a replay.
    expect(mock.history.filter((c) => c.url === 'https://third-party.test/widget')).toHaveLength(1);
    expect(authOf(mock.history[0]!)).toBeUndefined();
  });

  it('never holds a foreign request while a refresh runs', async () => {
    const { server, control, gate } = setup();
    const manual = track(gate.refresh());
    await flush();
    expect(gate.state.status).toBe('refreshing');

    const foreign = track(server.api.get('https://cdn.test/asset.js'));
    const own = track(server.api.get('/me'));
    await flush();
    expect(foreign.status).toBe('fulfilled');
    expect(own.status).toBe('pending');

    control.call(0).result.resolve('next');
    await flush();
    expect(manual.status).toBe('fulfilled');
    expect(own.status).toBe('fulfilled');
    expect(server.sent()).toEqual([
      ['https://cdn.test/asset.js', undefined],
      ['/me', 'Bearer next'],
    ]);
  });
});

describe('allowedOrigins', () => {
  it('takes a string entry as an exact origin', async () => {
    const { authFor } = setup({ allowedOrigins: ['https://api.test'] });
    expect(await authFor('/x')).toBe('Bearer tok');
    expect(await authFor('https://api.test/x')).toBe('Bearer tok');
    expect(await authFor('https://api.test:8443/x')).toBeUndefined();
    expect(await authFor('http://api.test/x')).toBeUndefined();
    expect(await authFor('https://sub.api.test/x')).toBeUndefined();
    expect(await authFor('https://api.test.evil.test/x')).toBeUndefined();
  });

  it('tests a RegExp entry against the origin', async () => {
    const { authFor } = setup({ allowedOrigins: [/^https:\/\/[a-z]+\.example\.com$/] });
    expect(await authFor('https://eu.example.com/x')).toBe('Bearer tok');
    expect(await authFor('https://us.example.com/y?z=1')).toBe('Bearer tok');
    expect(await authFor('https://eu.example.com.evil.test/x')).toBeUndefined();
    expect(await authFor('http://eu.example.com/x')).toBeUndefined();
  });

  it('replaces the default: the baseURL origin no longer gets the token unless listed', async () => {
    const { authFor, server, control } = setup({ allowedOrigins: ['https://other.test'] });
    expect(await authFor('/x')).toBeUndefined();
    expect(await authFor('https://other.test/x')).toBe('Bearer tok');

    // And a 401 from the no-longer-allowed baseURL origin starts no refresh.
    server.current = 'someone-else';
    const request = track(server.api.get('/x'));
    await flush();
    const error = request.error;
    expect(axios.isAxiosError(error) && error.response?.status).toBe(401);
    expect(control.refresh).not.toHaveBeenCalled();
  });

  it('mixes strings and RegExps', async () => {
    const { authFor } = setup({
      allowedOrigins: ['https://a.test', /^https:\/\/b\.test$/],
    });
    expect(await authFor('https://a.test/x')).toBe('Bearer tok');
    expect(await authFor('https://b.test/x')).toBe('Bearer tok');
    expect(await authFor('https://c.test/x')).toBeUndefined();
  });
});

describe('an instance with no baseURL and no allow-list', () => {
  it('sends no token to absolute URLs and warns once per gate', async () => {
    const logger = spyLogger();
    const { authFor } = setup({ logger }, null);
    expect(await authFor('https://api.test/a')).toBeUndefined();
    expect(await authFor('https://api.test/b')).toBeUndefined();
    expect(await authFor('https://other.test/c')).toBeUndefined();
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(String(logger.warn.mock.calls[0]?.[0])).toMatch(/allowedOrigins/);

    // Relative URLs still get the token, without a warning.
    expect(await authFor('/relative')).toBe('Bearer tok');
    expect(logger.warn).toHaveBeenCalledTimes(1);

    // A second gate warns on its own, once.
    const other = spyLogger();
    const second = setup({ logger: other }, null);
    await second.authFor('https://api.test/a');
    await second.authFor('https://api.test/b');
    expect(other.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn).toHaveBeenCalledTimes(1);
  });
});
