// Compile-only: an app's use of 'axios-refresh-gate/server' (see core.ts); it compiles with
// neither ioredis nor redis installed.
import {
  createRefreshDeduper,
  type DedupeClaim,
  type DedupeStore,
  isRefreshDedupeError,
  memoryDedupeStore,
  RefreshDedupeError,
  type RefreshDeduper,
  type RefreshDeduperOptions,
} from 'axios-refresh-gate/server';

interface Settings {
  graceMs?: number;
  waitTimeoutMs?: number;
}
declare const settings: Settings;
declare const rotateAtProvider: (refreshToken: string, signal: AbortSignal) => Promise<Pair>;
interface Pair {
  access_token: string;
  refresh_token?: string;
}

const memory = memoryDedupeStore();
const options: RefreshDeduperOptions = {
  graceMs: settings.graceMs,
  waitTimeoutMs: settings.waitTimeoutMs,
  store: memory,
};
const deduper: RefreshDeduper = createRefreshDeduper(options);

async function handle(refreshToken: string): Promise<{ status: number; body: unknown }> {
  try {
    const pair: Pair = await deduper.dedupe(refreshToken, (signal) =>
      rotateAtProvider(refreshToken, signal),
    );
    return { status: 200, body: pair };
  } catch (error) {
    if (isRefreshDedupeError(error)) return { status: error.status, body: { error: error.code } };
    if (error instanceof RefreshDedupeError) return { status: 429, body: null };
    throw error;
  }
}

// A store of the app's own.
const claims = new Map<string, DedupeClaim>();
const own: DedupeStore = {
  claim: async (hash) => claims.get(hash) ?? { state: 'claimed', token: 't' },
  renew: async () => true,
  fulfil: async (hash, _token, value) => void claims.set(hash, { state: 'done', value }),
  abandon: async (hash) => void claims.delete(hash),
  watch: () => () => {},
};

export const server = [handle, own, memory.size, createRefreshDeduper()];
