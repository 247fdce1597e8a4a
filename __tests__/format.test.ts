import { expected, show } from '../src/format.js';

describe('show', () => {
  it.each([
    [-1, '`-1` (number)'],
    [Number.NaN, '`NaN` (number)'],
    [Number.POSITIVE_INFINITY, '`Infinity` (number)'],
    [true, '`true` (boolean)'],
    [undefined, '`undefined` (undefined)'],
    [null, '`null` (null)'],
    [10n, '`10` (bigint)'],
    [Symbol('s'), '`Symbol(s)` (symbol)'],
    ['', '`""` (string)'],
    ['X-Auth\r\nX-Evil', '`"X-Auth\\r\\nX-Evil"` (string)'],
    [[401.5, '401', null], '`[401.5,401,null]` (array)'],
    [[Symbol('s'), {}], '`[Symbol(s),[object Object]]` (array)'],
    [() => 'source', '`...` (function)'],
    [/api/, '`...` (object)'],
  ])('shows %p as %s', (value, text) => {
    expect(show(value)).toBe(text);
  });

  it('shows objects by their type only, never their contents (a client with a password, tokens)', () => {
    const client = { options: { password: 'hunter2' }, status: 'ready' };
    expect(show(client)).toBe('`...` (object)');
    expect(show({ accessToken: 'secret' })).not.toContain('secret');
  });

  it('cuts long texts at 60 characters', () => {
    const text = show('x'.repeat(100));
    expect(text).toBe(`\`"${'x'.repeat(56)}...\` (string)`);
  });
});

describe('expected', () => {
  it('words every option error the same way', () => {
    expect(expected('cooldownMs', 'a finite number >= 0', -1)).toBe(
      'Expected `cooldownMs` to be a finite number >= 0, got `-1` (number)',
    );
  });
});
