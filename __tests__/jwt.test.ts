import { readJwtExpiry } from '../src/index.js';
import { jwt } from './helpers/gate-fixtures.js';

const segment = (text: string) => Buffer.from(text).toString('base64url');

describe('readJwtExpiry', () => {
  it('reads exp (seconds) as epoch milliseconds', () => {
    expect(readJwtExpiry(jwt({ sub: 'alice', exp: 1_767_225_600 }))).toBe(1_767_225_600_000);
    expect(readJwtExpiry(jwt({ exp: 1_767_225_600.5 }))).toBe(1_767_225_600_500);
    expect(readJwtExpiry(jwt({ exp: 0 }))).toBe(0);
  });

  it('does not verify the signature', () => {
    const token = jwt({ exp: 2_000_000_000 });
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.not-a-signature`;
    expect(readJwtExpiry(forged)).toBe(2_000_000_000_000);
    expect(readJwtExpiry(`${token.slice(0, token.lastIndexOf('.'))}.`)).toBe(2_000_000_000_000);
  });

  it('decodes base64url payloads, padding-free, with - and _ and UTF-8 claims', () => {
    // '?>' and '~~~' encode to '_' and '-' in base64url; 'é' and '日本' are multi-byte UTF-8.
    const claims = { name: 'Zoë 日本 ?>?>~~~', exp: 1_700_000_000 };
    const payload = segment(JSON.stringify(claims));
    expect(payload).toMatch(/[-_]/);
    expect(payload).not.toContain('=');
    expect(readJwtExpiry(`${segment('{"alg":"none"}')}.${payload}.sig`)).toBe(1_700_000_000_000);
  });

  it('answers undefined when exp is missing or not a finite number', () => {
    expect(readJwtExpiry(jwt({ sub: 'alice' }))).toBeUndefined();
    expect(readJwtExpiry(jwt({ exp: '1700000000' }))).toBeUndefined();
    expect(readJwtExpiry(jwt({ exp: null }))).toBeUndefined();
    expect(readJwtExpiry(`h.${segment('{"exp":1e400}')}.s`)).toBeUndefined(); // Infinity
  });

  it('answers undefined for payloads that are not claim objects', () => {
    expect(readJwtExpiry(`h.${segment('null')}.s`)).toBeUndefined();
    expect(readJwtExpiry(`h.${segment('42')}.s`)).toBeUndefined();
    expect(readJwtExpiry(`h.${segment('[1700000000]')}.s`)).toBeUndefined();
    expect(readJwtExpiry(`h.${segment('{"exp":')}.s`)).toBeUndefined();
  });

  it('answers undefined for strings that are not JWTs', () => {
    for (const token of ['', 'opaque-token', 'a.b', '.payload.sig', 'h..s', 'h.!!!.s', 'h.%%%.s']) {
      expect(readJwtExpiry(token)).toBeUndefined();
    }
  });
});
