/**
 * The exact swap under concurrency: one thread runs the program millions of
 * times (BPF_PROG_TEST_RUN, inside the kernel's RCU read-side sections like
 * a TC hook) while this thread evicts as fast as it can, swapping the inner
 * map each time. Every packet is in exactly one eviction: per flow, the sum
 * over evictions equals what was run.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import { kernelTest } from "../helpers/kernel-test.ts";

kernelTest("10,000,000 packets over 64 flows while evicting continuously: every packet counted once", async () => {
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "exact-swap-run.ts")], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(child.stdout).text();
  expect(await child.exited).toBe(0);
  const { evictions, rounds, repeat, lengths, seen } = JSON.parse(out.trim().split("\n").at(-1)!);
  expect(evictions).toBeGreaterThan(10);
  for (let i = 0; i < 64; i++) {
    const runs = Math.floor(rounds / 64) + (i < rounds % 64 ? 1 : 0);
    expect({ port: 20000 + i, ...seen[20000 + i] }).toEqual({ port: 20000 + i, packets: runs * repeat, bytes: runs * repeat * lengths[i] });
  }
}, 120_000);
