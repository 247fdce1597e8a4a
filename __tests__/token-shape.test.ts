import fc from 'fast-check';
import { readTokens } from '../src/token-shape.js';
import { toTokens } from '../src/tokens.js';

describe('readTokens', () => {
  it('returns only the known fields of valid tokens, as a new object', () => {
    const stored = { accessToken: 'a.b.c', refreshToken: 'r', expiresAt: 1_700_000_000_000 };
    const read = readTokens({ ...stored, idToken: 'secret', tokenType: 'Bearer' });
    expect(read).toEqual(stored);
    expect(readTokens({ accessToken: 'a' })).toEqual({ accessToken: 'a' });
    expect(Object.keys(readTokens({ accessToken: 'a', refreshToken: undefined })!)).toEqual([
      'accessToken',
    ]);
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'a1'],
    ['a number', 42],
    ['an array', [{ accessToken: 'a' }]],
    ['no accessToken', { refreshToken: 'r' }],
    ['an empty accessToken', { accessToken: '' }],
    ['a numeric accessToken', { accessToken: 1 }],
    ['an accessToken with CRLF (header injection)', { accessToken: 'abc\r\nX-Evil: 1' }],
    ['an accessToken with a space', { accessToken: 'a b' }],
    ['an accessToken with a tab', { accessToken: 'a\tb' }],
    ['an accessToken with NUL', { accessToken: 'a\u0000b' }],
    ['a non-ASCII accessToken', { accessToken: 'tökén' }],
    ['an empty refreshToken', { accessToken: 'a', refreshToken: '' }],
    ['a numeric refreshToken', { accessToken: 'a', refreshToken: 5 }],
    ['a string expiresAt', { accessToken: 'a', expiresAt: 'soon' }],
    ['a NaN expiresAt', { accessToken: 'a', expiresAt: Number.NaN }],
    ['an infinite expiresAt', { accessToken: 'a', expiresAt: Number.POSITIVE_INFINITY }],
  ])('reads %s as null, without throwing', (_, value) => {
    expect(readTokens(value)).toBeNull();
  });

  it('accepts exactly the objects toTokens accepts (one set of checks)', () => {
    const field = fc.oneof(
      fc.constant(undefined),
      fc.constant(''),
      fc.string(),
      fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
      fc.double(),
      fc.integer(),
      fc.constant(null),
    );
    const candidate = fc.record(
      { accessToken: field, refreshToken: field, expiresAt: field },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(candidate, (value) => {
        let strict: unknown;
        try {
          strict = toTokens(value, null, 'refresh');
        } catch {
          strict = null;
        }
        const lenient = readTokens(value);
        expect(lenient === null).toBe(strict === null);
        if (lenient !== null) expect(lenient).toEqual(strict);
      }),
      { numRuns: 2_000 },
    );
  });
});
