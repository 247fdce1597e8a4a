// Compile-only: 'axios-refresh-gate/redis' (and the server's Redis store) with a client typed by
// the app, as it compiles with neither ioredis nor redis installed (see core.ts).

import axios from 'axios';
import { attachRefreshGate } from 'axios-refresh-gate';
import {
  type RedisCoordinatorOptions,
  type RedisStoreOptions,
  redisCoordinator,
  redisStore,
} from 'axios-refresh-gate/redis';
import { createRefreshDeduper, redisDedupeStore } from 'axios-refresh-gate/server';

type Listener = (...args: never[]) => void;
/** The ioredis surface, as an app without ioredis' types could declare it. */
interface MyIoredis {
  readonly status: string;
  on(event: string, listener: Listener): this;
  removeListener(event: string, listener: Listener): this;
  eval(script: string, numkeys: number, ...args: Array<string | number>): Promise<unknown>;
  get(key: string): Promise<string | null>;
  duplicate(options?: object): MyIoredisSubscriber;
}
interface MyIoredisSubscriber {
  readonly status: string;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  on(event: string, listener: Listener): this;
  removeAllListeners(event: string): this;
  quit(): Promise<'OK'>;
  disconnect(): void;
}
declare const client: MyIoredis;
declare const lockTtlMs: number | undefined;

const key = 'tokens:billing-api';
const storeOptions: RedisStoreOptions = { client, key };
const coordinatorOptions: RedisCoordinatorOptions = { client, key, lockTtlMs };
const gate = attachRefreshGate(axios.create(), {
  refresh: async () => null,
  store: redisStore(storeOptions),
  coordinator: redisCoordinator(coordinatorOptions),
});
const deduper = createRefreshDeduper({ store: redisDedupeStore({ client, prefix: undefined }) });

// @ts-expect-error a plain object is not a Redis client
redisStore({ client: {}, key });

export const redis = [gate, deduper, redisStore({ client, key })];
