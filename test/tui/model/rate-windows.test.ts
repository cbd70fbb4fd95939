import { describe, expect, test } from "bun:test";
import { RateWindows } from "../../../src/tui/model/rate-windows.ts";

describe("RateWindows", () => {
  const windows = () => {
    const w = new RateWindows();
    w.add(1000, 1000, 10);
    w.add(2000, 2000, 20);
    w.add(3000, 3000, 30);
    return w;
  };

  test("each window averages the samples inside it, shortened to the time observed", () => {
    // 2 s: samples at 2000 and 3000 over 2 s; 10 s and 40 s: all three over the 3 s observed.
    expect(windows().rates(3000, 0)).toEqual({ bytes: [2500, 2000, 2000], packets: [25, 20, 20] });
  });

  test("after the traffic stops, short windows fall to zero first", () => {
    // 2 s window (10500, 12500]: empty; 10 s (2500, 12500]: the 3000 sample over 10 s;
    // 40 s: all three over the 12.5 s observed.
    expect(windows().rates(12_500, 0)).toEqual({ bytes: [0, 300, 480], packets: [0, 3, 4.8] });
    // Once 40 s have been observed, the long window divides by 40 s.
    expect(windows().rates(40_500, 0)).toEqual({ bytes: [0, 0, 150], packets: [0, 0, 1.5] });
  });

  test("a sample exactly one window old is outside it", () => {
    expect(windows().rates(5000, 0).bytes[0]).toBe(0);
    expect(windows().rates(4999, 0).bytes[0]).toBe(1500);
  });

  test("nothing observed yet gives zero, not a division by zero", () => {
    expect(windows().rates(1000, 1000)).toEqual({ bytes: [0, 0, 0], packets: [0, 0, 0] });
  });

  test("samples at one instant add up; pruning forgets what no window sees", () => {
    const w = new RateWindows();
    w.add(1000, 100, 1);
    w.add(1000, 50, 1);
    expect(w.rates(1000, 0).bytes).toEqual([150, 150, 150]);
    w.prune(40_999);
    expect(w.empty).toBe(false);
    w.prune(41_000);
    expect(w.empty).toBe(true);
  });
});
