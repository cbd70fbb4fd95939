/**
 * How big the next flows map is, and when to evict before the timer.
 *
 * The kernel counts the flows it inserts; the agent reads that count every
 * fill check (one map lookup) and so knows the active map's fill. Policy:
 * - early eviction when the fill reaches `highWater` of the capacity, or
 *   when packets spill to the ring buffer (the map is full): the next map
 *   is at least four times larger (up to the ceiling), so a burst of new
 *   flows is absorbed in a few checks;
 * - at each eviction the next map holds twice the flows this one saw
 *   (rounded up to a power of two, between `minimum` and `ceiling`): it
 *   grows at once and shrinks only after `shrinkAfter` evictions in a row
 *   that needed a quarter of it or less, so a quiet moment does not undo
 *   a busy node's size.
 * Pure: no I/O, tested on its own (test/flow/map-sizing.test.ts).
 */
export interface MapSizingOptions {
  /** The smallest map, and the first one. */
  minimum: number;
  /** The largest map (--cache-max-flows). */
  ceiling: number;
  /** Fill ratio that triggers an early eviction. */
  highWater: number;
  /** Evictions in a row with little use before the map shrinks. */
  shrinkAfter: number;
}

export const MAP_SIZING_DEFAULTS = { minimum: 4096, ceiling: 1_048_576, highWater: 0.75, shrinkAfter: 3 } as const;

export function powerOfTwoAtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class MapSizing {
  private quietEvictions = 0;

  constructor(readonly options: MapSizingOptions) {
    if (!(options.minimum >= 1 && options.minimum <= options.ceiling))
      throw new RangeError(`minimum map size ${options.minimum} must be >= 1 and <= the ceiling ${options.ceiling}`);
  }

  /** The first map's capacity. */
  initial(): number {
    return this.clamp(this.options.minimum);
  }

  /** Whether the active map should be evicted now: `fill` flows inserted, `spilled` packets sent to the ring since it was installed. */
  evictEarly(fill: number, capacity: number, spilled: number): boolean {
    return spilled > 0 || fill >= this.options.highWater * capacity;
  }

  /**
   * The capacity of the map installed by this eviction. `fill`: flows the
   * outgoing map took; `spilled`: packets that did not fit (each at most one
   * flow more); `early`: this eviction was started by evictEarly.
   */
  next(capacity: number, fill: number, spilled: number, early: boolean): number {
    const demand = fill + spilled;
    const wanted = this.clamp(powerOfTwoAtLeast(demand * 2));
    if (early) {
      this.quietEvictions = 0;
      return this.clamp(Math.max(wanted, capacity * 4));
    }
    if (wanted > capacity) {
      this.quietEvictions = 0;
      return wanted;
    }
    if (wanted * 2 <= capacity) {
      if (++this.quietEvictions >= this.options.shrinkAfter) {
        this.quietEvictions = 0;
        return wanted;
      }
    } else this.quietEvictions = 0;
    return capacity;
  }

  private clamp(n: number): number {
    return Math.min(this.options.ceiling, Math.max(this.options.minimum, n));
  }
}
