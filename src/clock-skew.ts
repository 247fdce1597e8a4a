/** How many `Date` samples the estimate keeps; their median is the offset. */
const SAMPLES = 7;
/** Below this, a difference is within the `Date` header's own resolution (whole seconds): none. */
const NOISE_MS = 2_000;
/** A sample further off than this is not a clock, it is a broken header. */
const LIMIT_MS = 7 * 24 * 3_600_000;

/**
 * The server's clock, estimated from the `Date` header of responses from the origins the token
 * goes to (rule 12): the median of the last few samples, so that one wrong header (a cache, a
 * proxy) moves nothing. A JWT's `exp` is the server's time; `offset` turns it into this device's.
 */
export class ClockSkew {
  readonly #samples: number[] = [];
  #last: string | undefined;
  /** Server time minus this device's time, in ms (0 within the header's resolution). */
  offset = 0;

  /** Whether any reading of the server's clock came yet. */
  get sampled(): boolean {
    return this.#samples.length > 0;
  }

  /** Whether `date` is a `Date` header other than the last one read. */
  isNew(date: unknown): date is string {
    return typeof date === 'string' && date !== this.#last;
  }

  /** Reads one response's `Date` header, received at `now` (this device's clock). */
  observe(date: unknown, now: number): void {
    if (!this.isNew(date)) return;
    this.#last = date;
    this.sample(Date.parse(date), now);
  }

  /**
   * One reading of the server's clock in whole seconds (`Date`, or a just-issued JWT's `iat`):
   * the server read it in the second after `server`, a moment before `now`.
   */
  sample(server: number, now: number): void {
    const sample = server + 500 - now;
    if (!(Math.abs(sample) <= LIMIT_MS)) return;
    const samples = this.#samples;
    samples.push(sample);
    if (samples.length > SAMPLES) samples.shift();
    const sorted = [...samples].sort((a, b) => a - b);
    const middle = sorted.length >> 1;
    let median = sorted[middle] ?? 0;
    // An even count has two middles: the one nearer the estimate so far, so that one wrong
    // header among two does not move it.
    if (sorted.length % 2 === 0) {
      const lower = sorted[middle - 1] ?? median;
      if (Math.abs(lower - this.offset) < Math.abs(median - this.offset)) median = lower;
    }
    this.offset = Math.abs(median) < NOISE_MS ? 0 : median;
  }
}
