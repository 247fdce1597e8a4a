import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import { createOriginPolicy as createPolicy } from '../src/origins.js';

/** The policy as a yes or no (it answers with the origin reached, or null). */
const createOriginPolicy = (...args: Parameters<typeof createPolicy>) => {
  const policy = createPolicy(...args);
  return (config: InternalAxiosRequestConfig, instance: AxiosInstance) =>
    policy(config, instance) !== null;
};

/** What axios hands the interceptor: the instance's baseURL is merged into every config. */
function request(url: string | undefined, baseURL?: string, extra: object = {}) {
  return { url, baseURL, ...extra } as unknown as InternalAxiosRequestConfig;
}
const instance = (baseURL?: string) => ({ defaults: { baseURL } }) as unknown as AxiosInstance;

describe('the default policy (no allowedOrigins)', () => {
  const unscoped = jest.fn();
  const allowed = createOriginPolicy(undefined, unscoped);
  const api = instance('https://api.test/v1');
  const on = (url: string | undefined, extra?: object) =>
    allowed(request(url, 'https://api.test/v1', extra), api);

  beforeEach(() => unscoped.mockClear());

  it('allows relative URLs and a missing url', () => {
    expect(on('/me')).toBe(true);
    expect(on('me?x=https://evil.test')).toBe(true);
    expect(on(undefined)).toBe(true);
    expect(on('')).toBe(true);
  });

  it('allows absolute URLs on the baseURL origin, whatever the path, case or default port', () => {
    expect(on('https://api.test/other')).toBe(true);
    expect(on('https://API.TEST/x')).toBe(true);
    expect(on('HTTPS://api.test/x')).toBe(true);
    expect(on('https://api.test:443/x')).toBe(true);
  });

  it('refuses other origins, including look-alike hosts and userinfo tricks', () => {
    expect(on('https://evil.test/x')).toBe(false);
    expect(on('http://api.test/x')).toBe(false);
    expect(on('https://api.test:444/x')).toBe(false);
    expect(on('https://api.test.evil.test/x')).toBe(false);
    expect(on('https://api.test@evil.test/x')).toBe(false);
    expect(on('//evil.test/x')).toBe(false);
    expect(on('wss://api.test/socket')).toBe(false);
  });

  it('refuses malformed absolute URLs', () => {
    expect(on('https://')).toBe(false);
    expect(on('https://exa mple.test/')).toBe(false);
  });

  it('treats an absolute url as relative when allowAbsoluteUrls is false', () => {
    expect(on('https://evil.test/x', { allowAbsoluteUrls: false })).toBe(true);
  });

  it('refuses a relative url sent with a per-request baseURL on another origin', () => {
    expect(allowed(request('/x', 'https://evil.test'), api)).toBe(false);
    expect(allowed(request('/x', 'https://api.test/v2'), api)).toBe(true);
  });

  it('allows a relative per-request baseURL (same origin as the page)', () => {
    expect(allowed(request('/x', '/api'), api)).toBe(true);
  });

  it('does not call the unscoped hook when the instance has a baseURL', () => {
    on('https://evil.test/x');
    expect(unscoped).not.toHaveBeenCalled();
  });

  it('answers the same for many distinct URLs (its caches are bounded, not wrong)', () => {
    for (let i = 0; i < 600; i++) {
      expect(on(`https://api.test/item/${i}`)).toBe(true);
      expect(on(`https://evil${i}.test/item`)).toBe(false);
    }
  });
});

describe('the default policy on an instance without an absolute baseURL', () => {
  it('allows relative URLs and refuses absolute ones, telling the hook each time', () => {
    const unscoped = jest.fn();
    const allowed = createOriginPolicy(undefined, unscoped);
    expect(allowed(request('/me'), instance())).toBe(true);
    expect(unscoped).not.toHaveBeenCalled();
    expect(allowed(request('https://api.test/me'), instance())).toBe(false);
    expect(
      allowed(request('https://api.test/me', '/relative-base'), instance('/relative-base')),
    ).toBe(false);
    // The policy reports every occurrence; the gate decides to warn once.
    expect(unscoped).toHaveBeenCalledTimes(2);
    // It is told the origin only: a query string may hold secrets.
    expect(unscoped).toHaveBeenCalledWith('https://api.test');
  });
});

describe('allowedOrigins', () => {
  it('matches string entries exactly against the origin', () => {
    const allowed = createOriginPolicy(['https://api.test', 'http://localhost:3000'], jest.fn());
    const api = instance();
    expect(allowed(request('https://api.test/x'), api)).toBe(true);
    expect(allowed(request('http://localhost:3000/x'), api)).toBe(true);
    expect(allowed(request('http://localhost:3001/x'), api)).toBe(false);
    expect(allowed(request('https://sub.api.test/x'), api)).toBe(false);
    expect(allowed(request('/x', 'https://api.test'), api)).toBe(true);
  });

  it('tests RegExp entries against the origin, from the start each time (g and y flags)', () => {
    const global = /^https:\/\/[a-z]+\.example\.com$/g;
    const sticky = /https:\/\/static\.test/y;
    const allowed = createOriginPolicy([global, sticky], jest.fn());
    const api = instance();
    for (let i = 0; i < 3; i++) {
      expect(allowed(request(`https://a${'b'.repeat(i)}.example.com/x`), api)).toBe(true);
      expect(allowed(request(`https://static.test/${i}`), api)).toBe(true);
    }
    expect(allowed(request('https://a.example.com.evil.test/x'), api)).toBe(false);
  });

  it('replaces the default: the instance baseURL origin is not allowed unless listed', () => {
    const allowed = createOriginPolicy(['https://other.test'], jest.fn());
    expect(allowed(request('/x', 'https://api.test'), instance('https://api.test'))).toBe(false);
    expect(
      allowed(request('https://other.test/x', 'https://api.test'), instance('https://api.test')),
    ).toBe(true);
  });

  it('never calls the unscoped hook', () => {
    const unscoped = jest.fn();
    const allowed = createOriginPolicy(['https://other.test'], unscoped);
    allowed(request('https://api.test/x'), instance());
    expect(unscoped).not.toHaveBeenCalled();
  });

  describe('with a relative URL and no absolute baseURL', () => {
    const location = Object.getOwnPropertyDescriptor(globalThis, 'location');
    afterEach(() => {
      if (location) Object.defineProperty(globalThis, 'location', location);
      else Reflect.deleteProperty(globalThis, 'location');
    });

    it('refuses it where there is no page (Node)', () => {
      const allowed = createOriginPolicy(['https://app.test'], jest.fn());
      expect(allowed(request('/x'), instance())).toBe(false);
    });

    it("judges it by the page's origin in a browser", () => {
      Object.defineProperty(globalThis, 'location', {
        value: { href: 'https://app.test/page', origin: 'https://app.test', protocol: 'https:' },
        configurable: true,
      });
      expect(createOriginPolicy(['https://app.test'], jest.fn())(request('/x'), instance())).toBe(
        true,
      );
      expect(createOriginPolicy(['https://api.test'], jest.fn())(request('/x'), instance())).toBe(
        false,
      );
    });
  });
});

describe("in a browser, the document's base URL changes after the policy was created", () => {
  const saved = {
    document: Object.getOwnPropertyDescriptor(globalThis, 'document'),
    location: Object.getOwnPropertyDescriptor(globalThis, 'location'),
  };
  /** A page on https://app.test; the test moves its base URL (a <base href> added later). */
  let page: { baseURI: string };

  beforeEach(() => {
    page = { baseURI: 'https://app.test/' };
    Object.defineProperty(globalThis, 'location', {
      value: { href: 'https://app.test/', origin: 'https://app.test', protocol: 'https:' },
      configurable: true,
      writable: true,
    });
    Object.defineProperty(globalThis, 'document', {
      value: page,
      configurable: true,
      writable: true,
    });
  });

  afterEach(() => {
    for (const key of ['document', 'location'] as const) {
      const descriptor = saved[key];
      if (descriptor) Object.defineProperty(globalThis, key, descriptor);
      else Reflect.deleteProperty(globalThis, key);
    }
  });

  it('the default policy: a relative URL reaches the new base, and the policy says so', () => {
    const policy = createPolicy(undefined, jest.fn());
    expect(policy(request('/api/me'), instance())).toBe('https://app.test');

    page.baseURI = 'https://cdn.other.test/';
    // Where the browser now sends "/api/me": the page's origin is now that of the new base.
    expect(new URL('/api/me', page.baseURI).origin).toBe('https://cdn.other.test');
    expect(policy(request('/api/me'), instance())).toBe('https://cdn.other.test');
  });

  it("allowedOrigins ['https://app.test']: a relative URL is refused once the base is elsewhere", () => {
    const allowed = createOriginPolicy(['https://app.test'], jest.fn());
    expect(allowed(request('/api/me'), instance())).toBe(true);

    page.baseURI = 'https://cdn.other.test/';
    expect(allowed(request('/api/me'), instance())).toBe(false);
  });

  it("allowedOrigins ['https://cdn.other.test']: a relative URL is allowed once the base is there", () => {
    const allowed = createOriginPolicy(['https://cdn.other.test'], jest.fn());
    expect(allowed(request('/api/me'), instance())).toBe(false);

    page.baseURI = 'https://cdn.other.test/';
    expect(allowed(request('/api/me'), instance())).toBe(true);
  });
});
