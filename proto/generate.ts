#!/usr/bin/env bun
/**
 * Generates src/gen from proto/ with the buf and protoc-gen-es in node_modules
 * (offline, reproducible). build.ts runs it; so does the staleness test.
 *   bun proto/generate.ts               regenerate src/gen (commit the result)
 *   bun proto/generate.ts --base <dir>  generate into <dir>/src/gen instead
 */
import { $ } from "bun";
import { join } from "node:path";

const root = join(import.meta.dir, "..");

/** Lints proto/ and generates TypeScript into `<base>/src/gen`; base defaults to the repository. */
export async function generate(base = root) {
  const buf = join(root, "node_modules", ".bin", "buf");
  await $`${buf} lint proto`.cwd(root).quiet();
  await $`${buf} generate proto --template proto/buf.gen.yaml --output ${base}`.cwd(root).quiet();
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--base");
  try {
    await generate(at >= 0 ? args[at + 1] : undefined);
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    console.error(`proto/generate.ts: ${stderr || (error instanceof Error ? error.message : error)}`);
    process.exit(1);
  }
}
