#!/usr/bin/env bun
/**
 * Builds netflow-agent.
 *   bun build.ts             BPF objects (when clang is present), then dist/netflow-agent
 *   bun build.ts --bpf-only  only the BPF objects
 *   bun build.ts --check     rebuild the BPF objects into a temp dir and fail if the committed ones differ
 *
 * The compiled BPF objects are committed (they are portable), so users need no
 * clang; this rebuilds them when clang is present. Output is reproducible:
 * DWARF is stripped (BTF stays) and paths are made relative.
 */
import { $ } from "bun";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = import.meta.dir;
export const BPF_SOURCES = ["flow", "floor"] as const;
const CLANG_STAMP = join(root, "bpf", "clang-version.txt");

function step(text: string) {
  process.stderr.write(`build: ${text}\n`);
}

export async function clangVersion(): Promise<string | undefined> {
  const result = await $`clang --version`.nothrow().quiet();
  if (result.exitCode !== 0) return undefined;
  return result.stdout.toString().split("\n")[0]!.trim();
}

export function committedClangVersion(): string {
  return existsSync(CLANG_STAMP) ? readFileSync(CLANG_STAMP, "utf8").trim() : "";
}

/**
 * The object as committed (git HEAD), so that a setup step that rebuilt
 * bpf/*.bpf.o in the work tree cannot hide a stale commit; the work tree's
 * file outside a git checkout.
 */
async function committedObject(name: string): Promise<Buffer> {
  const git = await $`git show HEAD:bpf/${name}.bpf.o`.cwd(root).nothrow().quiet();
  if (git.exitCode === 0) return Buffer.from(git.stdout);
  return readFileSync(join(root, "bpf", `${name}.bpf.o`));
}

/** Compiles bpf/<name>.bpf.c into `out`; `defines` are extra -D macros (tests only). */
export async function compileBpf(name: string, out: string, defines: string[] = []) {
  const arch = (await $`uname -m`.text()).trim();
  const targetArch = arch === "aarch64" ? "arm64" : "x86";
  const extra = defines.map((d) => `-D${d}`);
  await $`clang -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_${targetArch} ${extra} -I/usr/include/${arch}-linux-gnu -fdebug-prefix-map=${root}=. -c bpf/${name}.bpf.c -o ${out}`.cwd(
    root,
  );
  await $`llvm-strip -g ${out}`;
}

/** Compiles every bpf/<name>.bpf.c into outDir/<name>.bpf.o. */
export async function buildBpf(outDir: string) {
  for (const name of BPF_SOURCES) await compileBpf(name, join(outDir, `${name}.bpf.o`));
}

async function main(args: string[]) {
  const clang = await clangVersion();
  if (args.includes("--check")) {
    if (!clang) throw new Error("--check needs clang");
    const dir = mkdtempSync(join(tmpdir(), "netflow-bpf-"));
    try {
      await buildBpf(dir);
      const stale: string[] = [];
      for (const name of BPF_SOURCES)
        if (!Buffer.from(readFileSync(join(dir, `${name}.bpf.o`))).equals(await committedObject(name))) stale.push(name);
      if (stale.length > 0) {
        console.error(`stale BPF objects: ${stale.join(", ")} — run: bun build.ts --bpf-only, and commit bpf/*.bpf.o`);
        process.exit(1);
      }
      step("committed BPF objects match their sources");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }

  if (clang) {
    step(`compiling bpf/ with ${clang}`);
    await buildBpf(join(root, "bpf"));
    writeFileSync(CLANG_STAMP, clang + "\n");
  } else {
    step("clang not found: using the committed bpf/*.bpf.o");
  }
  if (args.includes("--bpf-only")) return;

  const generate = join(root, "proto", "generate.ts");
  if (existsSync(generate)) {
    step("generating protobuf code");
    await $`bun ${generate}`.cwd(root);
  }

  step("compiling dist/netflow-agent");
  await $`bun build --compile --minify --sourcemap src/cli/main.ts --outfile dist/netflow-agent`.cwd(root).quiet();
  step("done: dist/netflow-agent");
}

if (import.meta.main) {
  await main(process.argv.slice(2)).catch((error) => {
    console.error(`build: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  });
}
