import { describe, expect, test } from "bun:test";
import { Backoff } from "../../src/export/backoff.ts";

describe("Backoff", () => {
  test("the ceiling doubles from min up to max", () => {
    const highest = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect(Array.from({ length: 6 }, () => highest.nextDelayMs())).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  test("full jitter: a draw of 0 waits min, 0.5 waits halfway to the ceiling", () => {
    const lowest = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 });
    expect(Array.from({ length: 4 }, () => lowest.nextDelayMs())).toEqual([100, 100, 100, 100]);
    const half = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.5 });
    // ceilings 100, 200, 400, 800, 1000 → min + 0.5 * (ceiling - min)
    expect(Array.from({ length: 5 }, () => half.nextDelayMs())).toEqual([100, 150, 250, 450, 550]);
  });

  test("the draws are used in order", () => {
    const draws = [0.25, 0.75, 0.1];
    const backoff = new Backoff({ minMs: 1000, maxMs: 30_000, random: () => draws.shift()! });
    // ceilings 1000, 2000, 4000
    expect([backoff.nextDelayMs(), backoff.nextDelayMs(), backoff.nextDelayMs()]).toEqual([1000, 1750, 1300]);
  });

  test("reset starts over from min and counts attempts", () => {
    const backoff = new Backoff({ minMs: 50, maxMs: 5000, random: () => 0.999999 });
    for (let i = 0; i < 5; i++) backoff.nextDelayMs();
    expect(backoff.attempts).toBe(5);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.nextDelayMs()).toBe(50);
    expect(backoff.nextDelayMs()).toBe(100);
  });

  test("stays at max after very many failures", () => {
    const backoff = new Backoff({ minMs: 1, maxMs: 10_000, random: () => 0.999999 });
    let last = 0;
    for (let i = 0; i < 2000; i++) last = backoff.nextDelayMs();
    expect(last).toBe(10_000);
  });

  test("rejects bounds that make no sense", () => {
    expect(() => new Backoff({ minMs: 0, maxMs: 10 })).toThrow("backoff minMs 0 must be > 0");
    expect(() => new Backoff({ minMs: 10, maxMs: 5 })).toThrow("backoff maxMs 5 must be >= minMs 10");
  });
});
