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
 *
 * The executable carries this host's libbpf.so.1 and libelf.so.1 (found with
 * ldconfig, as the dynamic loader would) and their Debian packages' copyright
 * notices, written beside it as dist/netflow-agent.notices too; at start it
 * loads them from memory (src/bpf/library-loader.ts). The build host must be
 * Debian or a derivative (dpkg) with libbpf1 and libelf1 installed.
 */
import { $ } from "bun";
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

const root = import.meta.dir;
export const BPF_SOURCES = ["flow", "floor", "drops"] as const;
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

/** ldconfig's name for this machine's libraries ("libc6,x86-64"). */
const LDCONFIG_ARCH: Record<string, string> = { x86_64: "x86-64", aarch64: "AArch64" };

/** An embedded library: the file the dynamic loader would load here, and the package it came from. */
export interface HostLibrary {
  soname: string;
  /** As ldconfig lists it (the soname's symlink). */
  path: string;
  /** The file itself. */
  realPath: string;
  package: string;
  version: string;
  sourcePackage: string;
  sourceVersion: string;
  /** /usr/share/doc/<package>/copyright. */
  copyright: string;
}

/** Finds `soname` as the dynamic loader does (ldconfig's cache), and its Debian package. */
export async function hostLibrary(soname: string): Promise<HostLibrary> {
  const arch = LDCONFIG_ARCH[process.arch === "arm64" ? "aarch64" : "x86_64"]!;
  const cache = await $`ldconfig -p`.text();
  const entries = cache
    .split("\n")
    .map((line) => /^\s*(\S+) \(([^)]*)\) => (\S+)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && m[1] === soname);
  const entry = entries.find((m) => m[2]!.split(",").includes(arch)) ?? entries[0];
  if (!entry) throw new Error(`${soname} is not installed on this build host (ldconfig -p lists none): apt-get install libbpf1 libelf1`);
  const path = entry[3]!;
  const realPath = realpathSync(path);
  let owner: string | undefined;
  for (const candidate of [realPath, path]) {
    const found = await $`dpkg-query -S ${candidate}`.nothrow().quiet();
    if (found.exitCode === 0) {
      owner = found.stdout.toString().split(":")[0]!.trim();
      break;
    }
  }
  if (!owner) throw new Error(`no Debian package owns ${realPath}: the build needs its copyright notice (/usr/share/doc/<package>/copyright)`);
  const fields = (await $`dpkg-query -W -f ${"${Version}\t${source:Package}\t${source:Version}"} ${owner}`.text()).split("\t");
  const copyright = `/usr/share/doc/${owner}/copyright`;
  if (!existsSync(copyright)) throw new Error(`${copyright} is missing: the embedded ${soname} must ship with its licence notice`);
  return { soname, path, realPath, package: owner, version: fields[0]!, sourcePackage: fields[1]!, sourceVersion: fields[2]! || fields[0]!, copyright };
}

/** Licences the embedded libraries are distributed under, as the notices name them. */
const EMBEDDED_LICENCES: Record<string, { licence: string; texts: string[] }> = {
  "libbpf.so.1": { licence: "LGPL-2.1 OR BSD-2-Clause", texts: ["LGPL-2.1"] },
  "libelf.so.1": { licence: "LGPL-3.0-or-later OR GPL-2.0-or-later (elfutils' libraries)", texts: ["LGPL-3", "GPL-3", "GPL-2"] },
};

/** The notices shipped with the executable: what is embedded, from which package, and its copyright file. */
export function embeddedNotices(libraries: HostLibrary[]): string {
  const sha256 = (path: string) => new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
  const parts = [
    "netflow-agent embeds the following libraries, unmodified, as built by Debian. It loads them from memory at start;",
    "NETFLOW_LIBBPF=system (or the path of another libbpf.so.1) makes it use a different copy instead.",
    "",
  ];
  const texts = new Set<string>();
  for (const lib of libraries) {
    const licence = EMBEDDED_LICENCES[lib.soname]!;
    licence.texts.forEach((t) => texts.add(t));
    parts.push(
      `${"=".repeat(78)}`,
      `${lib.soname} (${basename(lib.realPath)}, sha256 ${sha256(lib.realPath)})`,
      `Debian package ${lib.package} ${lib.version}; licence ${licence.licence}.`,
      `Corresponding source: Debian source package ${lib.sourcePackage} ${lib.sourceVersion},`,
      `  https://snapshot.debian.org/package/${lib.sourcePackage}/${lib.sourceVersion.replace(/^\d+:/, "")}/`,
      `Its Debian copyright file (${lib.copyright}) follows.`,
      `${"=".repeat(78)}`,
      readFileSync(lib.copyright, "utf8").trimEnd(),
      "",
    );
  }
  for (const text of texts) {
    const file = `/usr/share/common-licenses/${text}`;
    if (!existsSync(file)) throw new Error(`${file} is missing: the notices quote it in full`);
    parts.push(`${"=".repeat(78)}`, `${text} (full text, from ${file})`, `${"=".repeat(78)}`, readFileSync(file, "utf8").trimEnd(), "");
  }
  return parts.join("\n");
}

/**
 * Compiles src/cli/main.ts into the executable `outfile`, with libbpf and
 * libelf embedded: src/bpf/embedded-libraries.ts is replaced (Bun.build
 * `files`) by a module importing staged copies `with { type: "file" }`.
 * Writes `<outfile>.notices` beside it. Returns the embedded libraries.
 */
export async function compileExecutable(outfile: string): Promise<HostLibrary[]> {
  const libraries = [await hostLibrary("libbpf.so.1"), await hostLibrary("libelf.so.1")];
  const notices = embeddedNotices(libraries);
  const stage = mkdtempSync(join(tmpdir(), "netflow-embed-"));
  try {
    for (const lib of libraries) copyFileSync(lib.realPath, join(stage, lib.soname));
    writeFileSync(join(stage, "NOTICES"), notices);
    const file = (name: string) => JSON.stringify(join(stage, name));
    const embedded = [
      `import libbpf from ${file("libbpf.so.1")} with { type: "file" };`,
      `import libelf from ${file("libelf.so.1")} with { type: "file" };`,
      `import notices from ${file("NOTICES")} with { type: "file" };`,
      `export const embeddedLibraries = { libbpf, libelf, notices };`,
    ].join("\n");
    const result = await Bun.build({
      entrypoints: [join(root, "src", "cli", "main.ts")],
      files: { [join(root, "src", "bpf", "embedded-libraries.ts")]: embedded },
      compile: { outfile },
      minify: true,
      sourcemap: "linked",
    });
    if (!result.success) throw new Error(`compiling ${outfile}: ${result.logs.map(String).join("; ")}`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  writeFileSync(`${outfile}.notices`, notices);
  return libraries;
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
  const embedded = await compileExecutable(join(root, "dist", "netflow-agent"));
  for (const lib of embedded) step(`embedded ${lib.soname}: ${lib.realPath} (${lib.package} ${lib.version})`);
  step("done: dist/netflow-agent, dist/netflow-agent.notices");
}

if (import.meta.main) {
  await main(process.argv.slice(2)).catch((error) => {
    console.error(`build: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  });
}
