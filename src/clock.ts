/**
 * Where the gate gets its time. The members are wrapper arrows, not references taken at import, so
 * that fake timers installed later (jest, sinon) still drive the gate.
 */
export interface Clock {
  /** Wall-clock time, epoch ms: what expiries are judged on. */
  now(): number;
  /** A monotonic clock, ms: what durations are measured on (a wall clock can be stepped). */
  elapsed(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  elapsed: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
