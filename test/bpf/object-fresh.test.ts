/**
 * The committed bpf/*.bpf.o must be what bpf/*.c compiles to. Checked the
 * way a clean clone sees it: the commit's build.ts and bpf/ are extracted
 * into a temp dir with no git (so `build.ts --check` compares with the
 * objects of that tree) and rebuilt there; the work tree's are checked the
 * same way, since the kernel tests load those. Builds are byte-reproducible
 * only with the clang that built the objects (bpf/clang-version.txt, written
 * by `bun build.ts --bpf-only`): with another clang or none the check cannot
 * compare; it says so on stderr, and under CI=true (Debian 12's clang, the one
 * that builds the committed objects) that is a failure.
 */
import { $ } from "bun";
import { expect, test } from "bun:test";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clangVersion } from "../../build.ts";
import { inCI, testNeeding } from "../helpers/kernel-test.ts";

const root = join(import.meta.dir, "..", "..");
const clang = await clangVersion();
const inGit = (await $`git rev-parse --is-inside-work-tree`.cwd(root).nothrow().quiet()).exitCode === 0;

/** A tree of build.ts and bpf/ in a temp dir: the commit's (git archive HEAD) or the work tree's. */
async function extract(from: "HEAD" | "work tree"): Promise<{ dir: string } & Disposable> {
  const dir = mkdtempSync(join(tmpdir(), "netflow-bpf-tree-"));
  if (from === "HEAD") await $`git archive HEAD build.ts bpf | tar -x -C ${dir}`.cwd(root).quiet();
  else {
    cpSync(join(root, "build.ts"), join(dir, "build.ts"));
    cpSync(join(root, "bpf"), join(dir, "bpf"), { recursive: true });
  }
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `bun build.ts --check` inside `dir`, kept away from any repository around it. */
async function check(dir: string) {
  const result = await $`${process.execPath} build.ts --check`.cwd(dir).env({ ...process.env, GIT_DIR: join(dir, "no-git") }).nothrow().quiet();
  return { code: result.exitCode, text: result.stderr.toString() + result.stdout.toString() };
}

const recorded = readFileSync(join(root, "bpf", "clang-version.txt"), "utf8").trim();
const sameClang = clang === recorded;
const need = `${recorded} (bpf/clang-version.txt; installed: ${clang ?? "no clang"})`;
if (!sameClang)
  console.warn(
    `object-fresh: NOT CHECKED — the committed BPF objects were built with ${recorded} and this host has ${clang ?? "no clang"}: ` +
      `builds are byte-reproducible only with the same clang, so whether bpf/*.bpf.o match bpf/*.c is unknown here` +
      (inCI ? "; under CI=true this fails" : ""),
  );
const compareTest = testNeeding({ [need]: sameClang }, "the BPF staleness check");

compareTest("the commit's BPF objects are what its sources compile to", async () => {
  using tree = await extract(inGit ? "HEAD" : "work tree");
  expect(await check(tree.dir)).toEqual({ code: 0, text: "build: committed BPF objects match their sources\n" });
}, 60_000);

compareTest("the work tree's BPF objects (the ones the kernel tests load) are what its sources compile to", async () => {
  using tree = await extract("work tree");
  expect(await check(tree.dir)).toEqual({ code: 0, text: "build: committed BPF objects match their sources\n" });
}, 60_000);

compareTest("a source changed without rebuilding its object is reported stale", async () => {
  using tree = await extract("work tree");
  appendFileSync(join(tree.dir, "bpf", "flow.bpf.c"), "\nconst volatile __u32 object_fresh_probe = 1;\n");
  expect(await check(tree.dir)).toEqual({ code: 1, text: "stale BPF objects: flow — run: bun build.ts --bpf-only, and commit bpf/*.bpf.o\n" });
}, 60_000);

test("the clang that built the committed objects is recorded beside them", () => {
  expect(recorded).toMatch(/clang version \d+\.\d+\.\d+/);
});
