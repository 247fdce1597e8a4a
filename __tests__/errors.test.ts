import { runInNewContext } from 'node:vm';
import { isRefreshGateError, RefreshGateError, RefreshGateErrorCode } from '../src/index.js';

describe('RefreshGateErrorCode', () => {
  it('lists the codes of the contract built so far, each equal to its name', () => {
    expect(Object.keys(RefreshGateErrorCode).sort()).toEqual([
      'COOLDOWN',
      'DESTROYED',
      'INVALID_OPTIONS',
      'INVALID_TOKENS',
      'LOCK_LOST',
      'NOT_REPLAYABLE',
      'NO_SESSION',
      'QUEUE_TIMEOUT',
      'REFRESH_TIMEOUT',
    ]);
    for (const [key, value] of Object.entries(RefreshGateErrorCode)) expect(value).toBe(key);
  });
});

describe('RefreshGateError', () => {
  it('is an Error with a name, a code, a message and a cause', () => {
    const cause = new Error('refresh endpoint down');
    const error = new RefreshGateError('COOLDOWN', 'no new refresh for 4000 ms (cooldownMs)', {
      cause,
    });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(RefreshGateError);
    expect(error.name).toBe('RefreshGateError');
    expect(error.code).toBe('COOLDOWN');
    expect(error.message).toBe('no new refresh for 4000 ms (cooldownMs)');
    expect(error.cause).toBe(cause);
    expect(error.stack).toContain('RefreshGateError');
    expect(String(error)).toBe('RefreshGateError: no new refresh for 4000 ms (cooldownMs)');
  });

  it('has no own cause when none is given', () => {
    const error = new RefreshGateError('DESTROYED', 'gone');
    expect(error.cause).toBeUndefined();
    expect('cause' in error).toBe(false);
  });

  it('keeps a non-Error cause as is', () => {
    expect(new RefreshGateError('COOLDOWN', 'm', { cause: 'nope' }).cause).toBe('nope');
  });
});

describe('isRefreshGateError', () => {
  it('recognises its own errors', () => {
    expect(isRefreshGateError(new RefreshGateError('QUEUE_TIMEOUT', 'waited too long'))).toBe(true);
  });

  it('rejects other values, including look-alikes without the brand', () => {
    for (const value of [
      new Error('plain'),
      Object.assign(new Error('m'), { name: 'RefreshGateError', code: 'COOLDOWN' }),
      { name: 'RefreshGateError', code: 'COOLDOWN', message: 'm' },
      null,
      undefined,
      'RefreshGateError',
      42,
    ]) {
      expect(isRefreshGateError(value)).toBe(false);
    }
  });

  it('recognises an error from another copy of the package, where instanceof fails', () => {
    let Other: typeof RefreshGateError | undefined;
    jest.isolateModules(() => {
      Other = (require('../src/errors') as typeof import('../src/errors.js')).RefreshGateError;
    });
    expect(Other).toBeDefined();
    expect(Other).not.toBe(RefreshGateError);
    const foreign = new Other!('INVALID_TOKENS', 'bad token');
    expect(foreign instanceof RefreshGateError).toBe(false);
    expect(isRefreshGateError(foreign)).toBe(true);
  });

  it('recognises an error from another realm', () => {
    const foreign: unknown = runInNewContext(`
      const error = new Error('from an iframe');
      error.name = 'RefreshGateError';
      error.code = 'REFRESH_TIMEOUT';
      error[Symbol.for('axios-refresh-gate.error')] = true;
      error;
    `);
    expect(foreign instanceof Error).toBe(false);
    expect(isRefreshGateError(foreign)).toBe(true);
  });

  it('narrows the type to read the code', () => {
    const error: unknown = new RefreshGateError('INVALID_OPTIONS', 'Expected `cooldownMs` ...');
    if (!isRefreshGateError(error)) throw new Error('expected a RefreshGateError');
    const code: RefreshGateErrorCode = error.code;
    expect(code).toBe(RefreshGateErrorCode.INVALID_OPTIONS);
  });
});
