/**
 * A seeded pseudo-random source (sfc32, from PractRand): the same seed gives
 * the same frames on every machine, so a fuzz failure reproduces from the
 * seed the run printed. Not for anything but tests.
 */
export class RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(readonly seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next32(); // mixes the seed into every word
  }

  /** A uniform 32-bit unsigned integer. */
  next32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.next32() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  byte(): number {
    return this.next32() & 0xff;
  }

  chance(p: number): boolean {
    return this.next32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  /** One of `choices`, each [weight, value]. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let r = this.next32() / 0x1_0000_0000 * total;
    for (const [w, v] of choices) if ((r -= w) < 0) return v;
    return choices[choices.length - 1]![1];
  }

  fill(out: Uint8Array, from = 0, to = out.length): Uint8Array {
    for (let i = from; i < to; i++) out[i] = this.next32() & 0xff;
    return out;
  }
}

/** FUZZ_SEED if set (decimal or 0x hex), else a fresh one: printed by every run either way. */
export function seedFromEnv(env: Record<string, string | undefined> = process.env): number {
  const text = env.FUZZ_SEED;
  if (text === undefined || text === "") return (Math.random() * 0x1_0000_0000) >>> 0;
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff)
    throw new Error(`FUZZ_SEED ${text} must be an integer >= 0 and <= 4294967295`);
  return seed;
}
