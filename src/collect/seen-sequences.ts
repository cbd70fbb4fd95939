/**
 * Which batch sequence numbers of one agent were received, to drop retried
 * batches. Exact for the last `window` sequences: everything at or below
 * `floor` was seen (or given up on), the set holds what arrived above it.
 *
 * Gaps happen (an agent's queue drops its oldest batches when a collector is
 * away), so the set cannot wait for them forever: past `window` entries the
 * oldest gap is given up, and a batch from before it arriving later still
 * would be taken for a duplicate.
 */
export class SeenSequences {
  private floor = 0n;
  private readonly above = new Set<bigint>();

  constructor(private readonly window = 4096) {}

  /** Records `sequence`; false when it had been seen before. */
  add(sequence: bigint): boolean {
    if (sequence <= this.floor || this.above.has(sequence)) return false;
    this.above.add(sequence);
    while (this.above.size > this.window) {
      let oldest = sequence;
      for (const s of this.above) if (s < oldest) oldest = s;
      this.floor = oldest;
      this.above.delete(oldest);
    }
    while (this.above.delete(this.floor + 1n)) this.floor++;
    return true;
  }

  /** Sequences held above the floor (tests; bounded by the window). */
  get pending(): number {
    return this.above.size;
  }
}
