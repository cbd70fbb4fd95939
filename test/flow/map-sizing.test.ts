/** The flows map's size policy, step by step (src/flow/map-sizing.ts). */
import { describe, expect, test } from "bun:test";
import { MapSizing, powerOfTwoAtLeast } from "../../src/flow/map-sizing.ts";

const options = { minimum: 4096, ceiling: 1_048_576, highWater: 0.75, shrinkAfter: 3 };

describe("MapSizing", () => {
  test("starts at the minimum; refuses a minimum above the ceiling", () => {
    expect(new MapSizing(options).initial()).toBe(4096);
    expect(() => new MapSizing({ ...options, minimum: 10, ceiling: 5 })).toThrow("minimum map size 10 must be >= 1 and <= the ceiling 5");
  });

  test("evicts early at the high-water mark or as soon as packets spill to the ring", () => {
    const sizing = new MapSizing(options);
    expect(sizing.evictEarly(3071, 4096, 0)).toBe(false);
    expect(sizing.evictEarly(3072, 4096, 0)).toBe(true);
    expect(sizing.evictEarly(10, 4096, 1)).toBe(true);
  });

  test("an early eviction grows the next map at least fourfold, up to the ceiling", () => {
    const sizing = new MapSizing(options);
    expect(sizing.next(4096, 3072, 0, true)).toBe(16384);
    // 200k flows seen (4096 in the map, the rest spilled): the next map holds twice that.
    expect(sizing.next(4096, 4096, 196_000, true)).toBe(524_288);
    expect(sizing.next(524_288, 400_000, 10, true)).toBe(1_048_576);
    expect(sizing.next(1_048_576, 900_000, 0, true)).toBe(1_048_576);
  });

  test("a timed eviction grows at once to twice the flows seen, and keeps the size when it fits", () => {
    const sizing = new MapSizing(options);
    expect(sizing.next(4096, 3000, 0, false)).toBe(8192);
    expect(sizing.next(8192, 3000, 0, false)).toBe(8192);
  });

  test("shrinks only after `shrinkAfter` quiet evictions in a row, never below the minimum", () => {
    const sizing = new MapSizing(options);
    expect(sizing.next(524_288, 10, 0, false)).toBe(524_288);
    expect(sizing.next(524_288, 10, 0, false)).toBe(524_288);
    expect(sizing.next(524_288, 10, 0, false)).toBe(4096);
    // A busy eviction in between resets the count.
    expect(sizing.next(65536, 100, 0, false)).toBe(65536);
    expect(sizing.next(65536, 30_000, 0, false)).toBe(65536);
    expect(sizing.next(65536, 100, 0, false)).toBe(65536);
    expect(sizing.next(65536, 100, 0, false)).toBe(65536);
    expect(sizing.next(65536, 100, 0, false)).toBe(4096);
  });

  test("a ceiling that is not a power of two is still the ceiling", () => {
    const sizing = new MapSizing({ ...options, ceiling: 100_000 });
    expect(sizing.next(4096, 4096, 50_000, true)).toBe(100_000);
  });

  test("powerOfTwoAtLeast", () => {
    expect([0, 1, 2, 3, 4096, 4097].map(powerOfTwoAtLeast)).toEqual([1, 1, 2, 4, 4096, 8192]);
  });
});
