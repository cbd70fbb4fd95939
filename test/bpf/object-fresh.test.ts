/** The committed bpf/*.bpf.o must be what bpf/*.c compiles to (with the clang that built them). */
import { $ } from "bun";
import { expect, test } from "bun:test";
import { join } from "node:path";
import { clangVersion, committedClangVersion } from "../../build.ts";

const root = join(import.meta.dir, "..", "..");
const clang = await clangVersion();
const sameClang = clang !== undefined && clang === committedClangVersion();

test.if(sameClang)("committed BPF objects are not stale", async () => {
  const result = await $`bun build.ts --check`.cwd(root).nothrow().quiet();
  expect(result.stderr.toString() + result.stdout.toString()).toContain("committed BPF objects match their sources");
  expect(result.exitCode).toBe(0);
});

test.if(!sameClang)("committed BPF objects: not checked (clang differs from bpf/clang-version.txt)", () => {
  expect(committedClangVersion()).not.toBe("");
});
