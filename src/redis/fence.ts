import { AsyncLocalStorage } from 'node:async_hooks';

/** The Redis lock a refresh runs under, for the store writes it makes (a fenced write). */
export interface Fence {
  /** The lock's key and this holder's fencing value: a write lands only while the key holds it. */
  readonly lockKey: string;
  /** Names the last process that took the lock: a free lock is taken back only if it is this one. */
  readonly holderKey: string;
  readonly id: string;
  /** The lock's time to live, for taking a free lock back. */
  readonly ttl: number;
  /** Tells the coordinator its lock is gone (a fenced write was refused); returns the error. */
  lost(): unknown;
  /**
   * Whether the refresh ended and the lock was let go. Work begun under the lock (a listener's
   * later setTokens) keeps this async context: its writes are then plain writes, never fenced.
   */
  released: boolean;
}

/**
 * The lock held by the refresh running in this async context. The coordinator runs `fn` inside
 * it, so that `redisStore` writes the refresh's tokens only while the lock is still its own.
 */
export const fence = new AsyncLocalStorage<Fence>();
