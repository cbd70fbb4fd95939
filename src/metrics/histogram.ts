/**
 * A histogram with fixed buckets, for durations: observe() adds to one bucket
 * (not cumulative; the exposition writer accumulates). Memory is fixed: one
 * count per bucket, the sum, nothing per observation.
 */
import type { HistogramSeries } from "./exposition.ts";

/**
 * Eviction durations, seconds: from a few ms (an idle map: a swap is one RCU
 * grace period) to the seconds of a 1M-flow eviction.
 */
export const EVICTION_SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export class Histogram {
  private readonly counts: number[];
  private total = 0;

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError("histogram bounds must ascend");
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /** Adds one observation: to the first bucket whose bound is >= value (Prometheus buckets are upper-inclusive). */
  observe(value: number) {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.total += value;
  }

  get count(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** A copy of the state, for the exposition. */
  series(labels?: Record<string, string>): HistogramSeries {
    return { labels, bounds: this.bounds, counts: [...this.counts], sum: this.total };
  }
}
