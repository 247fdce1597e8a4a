import { type AxiosError, type AxiosInstance, isAxiosError } from 'axios';
import { type GateCore, REPLAYS } from './gate-core.js';

/**
 * The response side of the gate for one instance: a response that triggers a refresh joins or
 * starts the one refresh, and the request is replayed through the same instance with the new
 * token; its caller sees only the replay's outcome (rules 3-7).
 */
export function createResponseInterceptor(core: GateCore, instance: AxiosInstance) {
  return async (error: unknown): Promise<unknown> => {
    if (!isAxiosError(error) || core.wasDelivered(error)) throw error;
    const config = error.config;
    if (
      !config ||
      core.destroyed ||
      core.isRefreshCall(config) ||
      !core.allowed(config, instance) ||
      !core.triggers(error as AxiosError)
    ) {
      throw error;
    }
    const replays = Number((config as unknown as Record<string, unknown>)[REPLAYS] ?? 0);
    if (replays >= core.options.maxReplays) throw error;
    await core.readyToReplay(error as AxiosError, config);
    (config as unknown as Record<string, unknown>)[REPLAYS] = replays + 1;
    core.emit('request:replayed', { config, replays: replays + 1 });
    return instance.request(config);
  };
}
