/** src/gen is generated from proto/ and committed: it must be what the generator makes now. */
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { generate } from "../../proto/generate.ts";

const repoRoot = join(import.meta.dir, "..", "..");

function filesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path), readFileSync(path, "utf8"));
  }
  return files;
}

test("src/gen matches proto/ (else run: bun proto/generate.ts, and commit src/gen)", async () => {
  const base = mkdtempSync(join(tmpdir(), "netflow-gen-"));
  try {
    await generate(base);
    const fresh = filesUnder(join(base, "src", "gen"));
    const committed = filesUnder(join(repoRoot, "src", "gen"));
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    expect(fresh.size).toBe(4); // netflow/v1: agent, collector, flow; pbflow: flow
    for (const [path, text] of fresh) expect({ path, text: committed.get(path) }).toEqual({ path, text });
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
