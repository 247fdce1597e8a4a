import { type AxiosError, type AxiosInstance, type AxiosResponse, isAxiosError } from 'axios';
import { RefreshGateError } from './errors.js';
import { type GateCore, REPLAYS, replaysOf } from './gate-core.js';
import { isNoSession } from './refresh-flight.js';

type Config = NonNullable<AxiosError['config']>;

/**
 * Rule 20: whether `config`'s body can be sent again. A stream (a Node `Readable`, npm
 * `form-data`, a web `ReadableStream`) was consumed by the first attempt; strings, buffers,
 * `URLSearchParams`, `Blob` and spec `FormData` are read afresh by every send.
 */
const replayable = (data: unknown): boolean =>
  typeof data !== 'object' ||
  data === null ||
  (typeof (data as { pipe?: unknown }).pipe !== 'function' &&
    typeof (data as { getReader?: unknown }).getReader !== 'function');

const notReplayable = (error: AxiosError) =>
  new RefreshGateError(
    'NOT_REPLAYABLE',
    'its body is a stream the first attempt consumed: send the request again with a new body',
    { cause: error },
  );

/**
 * The response side of the gate for one instance: the decision flow of one failed request. A
 * response that triggers a refresh joins or starts the one refresh, and the request is replayed
 * through the same instance with the new token; its caller sees only the replay's outcome
 * (rules 3-7). Other responses tell the gate that the token they carried works.
 */
export function createResponseInterceptor(core: GateCore, instance: AxiosInstance) {
  const accepted = (response: AxiosResponse): AxiosResponse => {
    core.accepted(response.config);
    core.answered(response, instance);
    return response;
  };

  const rejected = async (error: unknown): Promise<unknown> => {
    // A waiter's rejection (the refresh's own error) reaches its caller as it is (rule 5).
    if (!isAxiosError(error) || core.wasDelivered(error)) throw error;
    const config = error.config;
    if (!config || core.destroyed || core.isRefreshCall(config) || !core.allowed(config, instance))
      throw error;
    if (error.response) core.answered(error.response, instance);
    if (!core.triggers(error as AxiosError)) {
      if (error.response) core.accepted(config);
      throw error;
    }
    const replays = replaysOf(config);
    if (replays >= core.options.maxReplays) throw error;
    // Rule 17: sent with a token of a session cleared since: there is nothing to replay it with,
    // and no refresh (a later login's included) may answer for it.
    if (core.clearedSince(config)) throw error;

    const once = !replayable(core.bodyOf(config));

    let flight = core.flight;
    if (!flight) {
      await core.tokens(config);
      if (core.destroyed) throw error;
      flight = core.flight;
      if (!flight) {
        // As they are now, not as read: a clear() may have come while this waited.
        const currentToken = core.current()?.accessToken ?? null;
        const sent = core.sentWith(config);
        const { logger } = core.options;
        // No session (the last refresh said so, nothing came since): a request sent without a
        // token (a login's, say) has its own answer, not a reason to refresh.
        if (sent === null && core.noSession) throw error;
        // Rule 4: sent with a token that is no longer current.
        if (sent !== undefined && sent !== currentToken) {
          // Rule 17: the session was cleared since; there is nothing to replay it with.
          if (currentToken === null) throw error;
          if (once) throw notReplayable(error);
          logger.debug('stale 401: replayed', core.where(config));
          return replay(config, replays);
        }
        // Rule 6: the token a refresh just gave us is refused: refreshing again would loop.
        if (sent != null && core.refuses(sent)) {
          logger.debug('loop guard: a fresh token was refused', core.where(config));
          throw error;
        }
        // No session (the last refresh said so, nothing came since): a login's 401, say, is its
        // caller's answer, not a reason to refresh.
        if (currentToken === null && core.noSession) throw error;
        if (core.coolingDown) throw core.cooldownError();
        flight = core.start('unauthorized', error as AxiosError, currentToken);
      }
    }
    // The refresh runs (a new attempt with a new body then gets its token); this one ends now.
    if (once) throw notReplayable(error);
    try {
      await core.wait(config, flight);
    } catch (waited) {
      // No session to refresh: each request's own 401 is its answer (a wrong password's, say).
      if (isNoSession(waited)) throw error;
      throw waited;
    }
    return replay(config, replays);
  };

  const replay = (config: Config, replays: number) => {
    // Destroyed meanwhile: its interceptors are gone, so the replay would go out ungated.
    if (core.destroyed) throw core.destroyedError();
    (config as unknown as Record<string, unknown>)[REPLAYS] = replays + 1;
    core.restoreBody(config);
    core.emitReplayed(config, replays + 1);
    return instance.request(config);
  };

  return { accepted, rejected };
}
