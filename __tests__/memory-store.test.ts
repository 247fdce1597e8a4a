import { memoryStore } from '../src/index.js';

describe('memoryStore', () => {
  it('starts empty by default', () => {
    expect(memoryStore().get()).toBeNull();
  });

  it('starts with the tokens it is given', () => {
    const tokens = { accessToken: 'a', refreshToken: 'r' };
    expect(memoryStore(tokens).get()).toBe(tokens);
  });

  it('answers synchronously, so the gate reads it on every request', () => {
    const store = memoryStore({ accessToken: 'a' });
    expect(store.get()).not.toBeInstanceOf(Promise);
    expect(store.set({ accessToken: 'b' })).toBeUndefined();
    expect(store.clear()).toBeUndefined();
  });

  it('sets and clears', () => {
    const store = memoryStore();
    const tokens = { accessToken: 'b', expiresAt: 1 };
    store.set(tokens);
    expect(store.get()).toBe(tokens);
    store.clear();
    expect(store.get()).toBeNull();
  });

  it('has no subscribe: nothing changes it from elsewhere', () => {
    expect(memoryStore().subscribe).toBeUndefined();
  });

  it('keeps two stores apart', () => {
    const one = memoryStore();
    const two = memoryStore();
    one.set({ accessToken: 'one' });
    expect(two.get()).toBeNull();
  });
});
