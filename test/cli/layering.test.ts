/**
 * Dependencies point down the data path (STYLE.md): src/cli wires commands
 * and nothing below it imports from it; shared error types live low
 * (src/config-error.ts).
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "../helpers/agent-process.ts";

const src = join(repoRoot, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

test("no module outside src/cli imports from src/cli", () => {
  const upward = sourceFiles(src)
    .filter((file) => !relative(src, file).startsWith("cli/"))
    .flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(/from\s+"((?:\.\.?\/)+[^"]*)"/g)]
        .map((m) => relative(src, join(file, "..", m[1]!)))
        .filter((target) => target.startsWith("cli/"))
        .map((target) => `${relative(src, file)} → ${target}`),
    );
  expect(upward).toEqual([]);
});
