/**
 * Averages over sliding windows, as iftop shows them: the bytes and packets
 * of the samples taken inside the last 2 s, 10 s and 40 s, divided by the
 * window (or by the time observed so far, while that is shorter, so the
 * first seconds are not under-reported). Time is always passed in: the
 * caller owns the clock, so tests give exact instants.
 */
export const RATE_WINDOWS_MS = [2_000, 10_000, 40_000] as const;
export const LONGEST_WINDOW_MS = RATE_WINDOWS_MS[RATE_WINDOWS_MS.length - 1]!;

/** Per-second averages, one entry per window of RATE_WINDOWS_MS. */
export interface WindowRates {
  bytes: number[];
  packets: number[];
}

interface Sample {
  atMs: number;
  bytes: number;
  packets: number;
}

export function zeroRates(): WindowRates {
  return { bytes: RATE_WINDOWS_MS.map(() => 0), packets: RATE_WINDOWS_MS.map(() => 0) };
}

export function addRates(into: WindowRates, from: WindowRates) {
  for (let i = 0; i < RATE_WINDOWS_MS.length; i++) {
    into.bytes[i]! += from.bytes[i]!;
    into.packets[i]! += from.packets[i]!;
  }
}

export class RateWindows {
  /** Oldest first; samples older than the longest window are dropped on add and prune. */
  private samples: Sample[] = [];

  add(atMs: number, bytes: number, packets: number) {
    const last = this.samples[this.samples.length - 1];
    // Two records of one flow in one eviction (ringbuf overflow + map) are one sample.
    if (last && last.atMs === atMs) {
      last.bytes += bytes;
      last.packets += packets;
    } else this.samples.push({ atMs, bytes, packets });
  }

  /** Forgets samples no window can see any more. */
  prune(nowMs: number) {
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop]!.atMs <= nowMs - LONGEST_WINDOW_MS) drop++;
    if (drop > 0) this.samples.splice(0, drop);
  }

  get empty(): boolean {
    return this.samples.length === 0;
  }

  /**
   * Rates at `nowMs`: a sample counts in a window when nowMs - window < atMs <= nowMs.
   * `observedSinceMs` is when watching began: a window longer than that is shortened to it.
   */
  rates(nowMs: number, observedSinceMs: number): WindowRates {
    const rates = zeroRates();
    const observedMs = nowMs - observedSinceMs;
    if (observedMs <= 0) return rates;
    // Newest first, each sample added to every window it is in; stop past the longest.
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const s = this.samples[i]!;
      if (s.atMs > nowMs) continue;
      const age = nowMs - s.atMs;
      if (age >= LONGEST_WINDOW_MS) break;
      for (let w = 0; w < RATE_WINDOWS_MS.length; w++) {
        if (age < RATE_WINDOWS_MS[w]!) {
          rates.bytes[w]! += s.bytes;
          rates.packets[w]! += s.packets;
        }
      }
    }
    for (let w = 0; w < RATE_WINDOWS_MS.length; w++) {
      const seconds = Math.min(RATE_WINDOWS_MS[w]!, observedMs) / 1000;
      rates.bytes[w]! /= seconds;
      rates.packets[w]! /= seconds;
    }
    return rates;
  }
}
