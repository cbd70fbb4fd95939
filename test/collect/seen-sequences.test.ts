import { expect, test } from "bun:test";
import { SeenSequences } from "../../src/collect/seen-sequences.ts";

test("in order: each sequence new once, nothing kept above the floor", () => {
  const seen = new SeenSequences();
  expect([1n, 2n, 3n].map((s) => seen.add(s))).toEqual([true, true, true]);
  expect([1n, 2n, 3n].map((s) => seen.add(s))).toEqual([false, false, false]);
  expect(seen.pending).toBe(0);
});

test("out of order and retried: duplicates found, gaps filled later", () => {
  const seen = new SeenSequences();
  expect([3n, 1n, 3n, 2n, 5n, 2n, 4n, 5n].map((s) => seen.add(s))).toEqual([true, true, false, true, true, false, true, false]);
  expect(seen.pending).toBe(0);
});

test("a gap never filled is given up after the window; memory stays bounded", () => {
  const seen = new SeenSequences(4);
  seen.add(1n);
  // 2 never comes (dropped by the agent's queue)
  for (const s of [3n, 4n, 5n, 6n]) expect(seen.add(s)).toBe(true);
  expect(seen.pending).toBe(4);
  expect(seen.add(7n)).toBe(true);
  expect(seen.pending).toBe(0); // 2 given up: floor moved past 3..7
  expect(seen.add(2n)).toBe(false);
  expect(seen.add(8n)).toBe(true);
});
