/**
 * .ci/test and the kernel-test helpers on fixture files (each run is one
 * small file, not the suite): a skipped test is said, and with CI=true it
 * fails the run; a test that needs root fails instead of skipping.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const skipped = "./test/ci/fixtures/skipped.fixture.ts";
const needsRoot = "./test/ci/fixtures/needs-root.fixture.ts";

/** Runs `cmd` from the repository root with CI set to `ci` (or unset); output is stdout and stderr together. */
function run(cmd: string[], ci: string | undefined) {
  const env: Record<string, string | undefined> = { ...process.env, CI: ci };
  if (ci === undefined) delete env.CI;
  const out = Bun.spawnSync(cmd, { cwd: root, env, stdout: "pipe", stderr: "pipe" });
  return { code: out.exitCode, text: out.stdout.toString() + out.stderr.toString() };
}

const lastLine = (text: string) => text.trimEnd().split("\n").at(-1);

test(".ci/test with CI=true: a skipped test fails the run, counted as failed, and says why", () => {
  const { code, text } = run(["bash", ".ci/test", skipped], "true");
  expect(code).not.toBe(0);
  expect(text).toContain("FAILED: 1 test(s) skipped with CI=true: every test must run in CI (kernel and e2e tests need root)\n");
  expect(lastLine(text)).toBe("1 passed, 1 failed");
});

test(".ci/test without CI: a skipped test is a warning, the run passes", () => {
  const { code, text } = run(["bash", ".ci/test", skipped], undefined);
  expect(code).toBe(0);
  expect(text).toContain("WARNING: 1 test(s) skipped and not run (kernel and e2e tests need root); with CI=true this run would fail\n");
  expect(lastLine(text)).toBe("1 passed, 0 failed");
});

test("kernelTest with CI=true and no root: a failing test naming the need, not a skip", () => {
  const { code, text } = run([process.execPath, "test", needsRoot], "true");
  expect(code).toBe(1);
  expect(text.match(/error: kernel test needs root \(CI=true\)/g)).toHaveLength(2);
  expect(text).toContain("(fail) attaches to a veth");
  expect(text).toContain("(fail) parser > (every test of this block)");
  expect(text).toMatch(/^ 1 pass$/m);
  expect(text).toMatch(/^ 2 fail$/m);
  expect(text).not.toMatch(/^ \d+ skip$/m);
});

test("kernelTest without CI and no root: skipped, and counted as skipped", () => {
  const { code, text } = run([process.execPath, "test", needsRoot], undefined);
  expect(code).toBe(0);
  expect(text).toContain("(skip) attaches to a veth");
  expect(text).toMatch(/^ 3 skip$/m);
});

test("no test file gates on root with test.if/describe.if (skipped silently; kernelTest fails under CI=true instead)", async () => {
  const offenders: string[] = [];
  for await (const file of new Bun.Glob("test/**/*.ts").scan({ cwd: root })) {
    const text = await Bun.file(join(root, file)).text();
    text.split("\n").forEach((line, i) => {
      const code = line.trimStart();
      if (code.startsWith("*") || code.startsWith("//")) return;
      if (/\b(test|describe|it)\.if\([^)]*\bisRoot\b/.test(code)) offenders.push(`${file}:${i + 1}`);
    });
  }
  expect(offenders).toEqual([]);
});
