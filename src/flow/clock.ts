/**
 * Kernel time to wall time. bpf_ktime_get_ns() is CLOCK_MONOTONIC; the offset
 * to the wall clock is read once per eviction (one clock_gettime, one
 * Date.now) and applied to every flow of it, so a wall-clock step between
 * evictions moves whole batches, never the order within one.
 */
export interface Clock {
  /** Wall-clock ms since the epoch. */
  wallMs(): number;
  /** CLOCK_MONOTONIC, ns. */
  monotonicNs(): bigint;
}

/** ms to add to monotonic ns / 1e6 to get wall-clock ms. */
export function monotonicToWallOffsetMs(clock: Clock): number {
  const wall = clock.wallMs();
  const mono = clock.monotonicNs();
  return wall - Number(mono / 1000n) / 1000;
}
