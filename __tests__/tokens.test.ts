import fc from 'fast-check';
import { isRefreshGateError } from '../src/index.js';
import { toTokens } from '../src/tokens.js';

function invalid(value: unknown, previous = null, what = 'refresh') {
  try {
    toTokens(value, previous, what);
  } catch (error) {
    if (isRefreshGateError(error) && error.code === 'INVALID_TOKENS') return error.message;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be refused`);
}

describe('toTokens', () => {
  it('returns a valid Tokens object as is', () => {
    const tokens = { accessToken: 'a.b.c', refreshToken: 'r', expiresAt: 1_700_000_000_000 };
    expect(toTokens(tokens, null, 'refresh')).toBe(tokens);
    const bare = { accessToken: 'a' };
    expect(toTokens(bare, { accessToken: 'old', refreshToken: 'r' }, 'refresh')).toBe(bare);
  });

  it('turns a string into an access token, keeping the previous refresh token only', () => {
    expect(toTokens('new', null, 'refresh')).toEqual({ accessToken: 'new' });
    expect(toTokens('new', { accessToken: 'old' }, 'refresh')).toEqual({ accessToken: 'new' });
    expect(
      toTokens('new', { accessToken: 'old', refreshToken: 'r1', expiresAt: 5 }, 'refresh'),
    ).toEqual({ accessToken: 'new', refreshToken: 'r1' });
  });

  it('refuses values that are not a string or an object, naming what produced them', () => {
    expect(invalid(null)).toBe(
      'refresh must resolve to a non-empty token string or { accessToken }, got `null` (null)',
    );
    expect(invalid(undefined)).toMatch(/got `undefined` \(undefined\)$/);
    expect(invalid(42)).toMatch(/got `42` \(number\)$/);
    expect(invalid(true, null, 'setTokens')).toMatch(/^setTokens .*got `true` \(boolean\)$/);
  });

  it('refuses a missing, empty or non-string accessToken', () => {
    expect(invalid({})).toBe(
      'refresh: `accessToken` must be a non-empty string, got `undefined` (undefined)',
    );
    expect(invalid({ accessToken: '' })).toMatch(/`accessToken` .*got `""` \(string\)$/);
    expect(invalid({ accessToken: 5 })).toMatch(/got `5` \(number\)$/);
    expect(invalid({ accessToken: null })).toMatch(/got `null` \(null\)$/);
    // An object is shown by its type only: it may hold a token.
    expect(invalid({ accessToken: { jwt: 'secret' } })).toMatch(/got `...` \(object\)$/);
    expect(invalid('')).toBe(
      'refresh: `accessToken` must be a non-empty string, got `""` (string)',
    );
  });

  it('refuses an access token that could break or inject a header line', () => {
    for (const token of [
      'a b',
      ' a',
      'a\t',
      'a\r\nX-Evil: 1',
      'a\nb',
      'a\u0000b',
      'a\u007fb',
      'tökén',
      'a\u2028b',
    ]) {
      expect(invalid(token)).toBe(
        'refresh: `accessToken` contains whitespace, control or non-ASCII characters',
      );
      expect(invalid({ accessToken: token })).toMatch(/whitespace, control or non-ASCII/);
      // The token itself never reaches the message (it may end up in a log).
      expect(invalid(token)).not.toContain(token);
    }
  });

  it('refuses a bad refreshToken or expiresAt when given', () => {
    expect(invalid({ accessToken: 'a', refreshToken: '' })).toBe(
      'refresh: `refreshToken` must be a non-empty string when given, got `""` (string)',
    );
    expect(invalid({ accessToken: 'a', refreshToken: 5 })).toMatch(
      /`refreshToken`.*got `5` \(number\)$/,
    );
    expect(invalid({ accessToken: 'a', expiresAt: '1' })).toBe(
      'refresh: `expiresAt` must be a finite number (epoch ms) when given, got `"1"` (string)',
    );
    expect(invalid({ accessToken: 'a', expiresAt: Number.NaN })).toMatch(
      /`expiresAt`.*got `NaN` \(number\)$/,
    );
    expect(invalid({ accessToken: 'a', expiresAt: Number.POSITIVE_INFINITY })).toMatch(
      /`expiresAt`/,
    );
  });

  it('accepts every non-empty string of visible ASCII', () => {
    const visible = fc.string({
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
      minLength: 1,
    });
    fc.assert(
      fc.property(visible, (token) => {
        expect(toTokens(token, null, 'refresh')).toEqual({ accessToken: token });
      }),
    );
  });

  it('refuses every string with a character outside visible ASCII', () => {
    const outside = fc.oneof(
      fc.integer({ min: 0, max: 0x20 }),
      fc.integer({ min: 0x7f, max: 0xffff }),
    );
    fc.assert(
      fc.property(fc.string(), outside, fc.string(), (before, code, after) => {
        const token = `${before}${String.fromCharCode(code)}${after}`;
        expect(() => toTokens(token, null, 'refresh')).toThrow(
          expect.objectContaining({ code: 'INVALID_TOKENS' }),
        );
      }),
    );
  });
});
