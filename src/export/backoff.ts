/**
 * Delays between attempts to reach a collector: exponential growth with full
 * jitter (AWS architecture blog, "Exponential Backoff And Jitter"), so many
 * agents restarted with one collector do not retry in lockstep.
 *
 * Attempt n (0-based) waits a uniformly random time in
 * [minMs, min(maxMs, minMs * 2^n)]; success resets n to 0. The random source
 * is injected so tests are exact.
 */

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
  /** Uniform in [0, 1); Math.random in production. */
  random?: () => number;
}

export class Backoff {
  private failures = 0;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    if (!(options.minMs > 0)) throw new RangeError(`backoff minMs ${options.minMs} must be > 0`);
    if (!(options.maxMs >= options.minMs)) throw new RangeError(`backoff maxMs ${options.maxMs} must be >= minMs ${options.minMs}`);
    this.random = options.random ?? Math.random;
  }

  /** Consecutive failures since the last success. */
  get attempts(): number {
    return this.failures;
  }

  /** Records a failure and returns how long to wait before the next attempt. */
  nextDelayMs(): number {
    const { minMs, maxMs } = this.options;
    // Cap the exponent: 2^50 already exceeds any sane maxMs and keeps the number finite.
    const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(this.failures, 50));
    this.failures++;
    return Math.round(minMs + this.random() * (ceiling - minMs));
  }

  /** The collector answered: the next failure starts from minMs again. */
  reset() {
    this.failures = 0;
  }
}
