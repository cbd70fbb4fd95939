#!/usr/bin/env bun
/**
 * The full differential fuzz of the parser (issue 12): the run
 * test/bpf/parser-fuzz.test.ts does in CI, at length, with progress. Needs
 * root. Exits 1 when any flow differs from the reference.
 *   sudo bun bench/parser-fuzz.ts                        1,000,000 frames, a fresh seed
 *   sudo bun bench/parser-fuzz.ts --frames 200000 --seed 123
 *   sudo bun bench/parser-fuzz.ts --values per-cpu       the per-CPU flows maps (default: shared)
 *   sudo bun bench/parser-fuzz.ts --scapy 20000          also check the reference against scapy on 20,000 frames
 * FUZZ_SEED and FUZZ_FRAMES are read too; flags win.
 */
import type { FlowValues } from "../src/bpf/flow-object.ts";
import { describeReport, runDifferentialFuzz } from "../test/fuzz/differential-run.ts";
import { KNOWN_DIVERGENCES } from "../test/fuzz/known-divergences.ts";
import { seedFromEnv } from "../test/fuzz/random-source.ts";
import { crossCheckWithScapy, pythonWithScapy } from "../test/fuzz/scapy-reference.ts";
import { ProgramUnderTest } from "../test/helpers/test-run.ts";
import { parseArgs } from "node:util";
import { cpus, release } from "node:os";

const { values: flags } = parseArgs({
  options: { frames: { type: "string" }, seed: { type: "string" }, values: { type: "string" }, scapy: { type: "string" } },
});
const say = (s: string) => process.stderr.write(`parser-fuzz: ${s}\n`);

function count(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    say(`${name} ${text} must be an integer >= 0`);
    process.exit(2);
  }
  return n;
}

if (process.getuid?.() !== 0) {
  say("needs root (loads BPF programs): sudo bun bench/parser-fuzz.ts");
  process.exit(2);
}
const frames = count("--frames", flags.frames ?? process.env.FUZZ_FRAMES, 1_000_000);
const seed = seedFromEnv({ FUZZ_SEED: flags.seed ?? process.env.FUZZ_SEED });
const values = (flags.values ?? "shared") as FlowValues;
if (values !== "shared" && values !== "per-cpu") {
  say(`--values ${values} must be shared or per-cpu`);
  process.exit(2);
}
const scapyFrames = count("--scapy", flags.scapy, 0);

console.log(`Kernel ${release()}, ${cpus().length} × ${cpus()[0]?.model.trim()}, ${values} values`);
say(`FUZZ_SEED=${seed} FUZZ_FRAMES=${frames}`);
let failed = false;
if (scapyFrames > 0) {
  if (!pythonWithScapy) {
    say("--scapy needs a python3 with scapy (apt install python3-scapy)");
    process.exit(2);
  }
  say(`reference against scapy on ${scapyFrames} frames…`);
  const check = await crossCheckWithScapy(pythonWithScapy, seed, scapyFrames);
  console.log(`reference vs scapy: ${check.frames} frames, ${check.disagreements.length} disagree`);
  for (const d of check.disagreements.slice(0, 20)) console.log(`  ${d.origin}: ${d.differences.join("; ")}\n    frame ${d.frameHex}`);
  failed ||= check.disagreements.length > 0;
}

{
  using prog = await ProgramUnderTest.load(4096, undefined, values);
  const report = await runDifferentialFuzz(prog, { seed, frames, knownDivergences: KNOWN_DIVERGENCES, log: say });
  console.log(describeReport(report).join("\n"));
  failed ||= report.mismatchedFrames > 0;
}
process.exit(failed ? 1 : 0);
