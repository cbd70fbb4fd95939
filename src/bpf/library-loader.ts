/**
 * Where libbpf is loaded from, and in which order the places are tried.
 *
 * A compiled netflow-agent carries the build host's libbpf.so.1 and
 * libelf.so.1 (embedded-libraries.ts); libbpf needs libelf (DT_NEEDED
 * "libelf.so.1"), and both need the host's libz.so.1 and glibc. The routes:
 *   memfd      each library written to an anonymous memory file
 *              (memfd_create) and dlopen()ed as /proc/self/fd/N: nothing on
 *              disk, and a noexec /tmp does not matter. libelf goes first:
 *              glibc's loader satisfies a DT_NEEDED entry with an object
 *              already loaded under that soname (elf/dl-load.c,
 *              _dl_map_object), so libbpf binds to this libelf, not the host's.
 *   extracted  for kernels that refuse executable memfds (vm.memfd_noexec=2,
 *              an LSM): both written to a new 0700 directory (mkdtemp under
 *              $XDG_RUNTIME_DIR, /run, then the temp directory, the first
 *              where they load), loaded in the same order, and removed once
 *              libbpf's symbols are bound (the mappings outlive the files).
 *   system     the host's libbpf.so.1, found by the dynamic loader.
 * NETFLOW_LIBBPF picks: auto (default: memfd, extracted, system), embedded
 * (memfd, then extracted), memfd, extracted, system, or the path of a
 * libbpf.so.1. Run from source nothing is embedded and auto means system.
 *
 * The dlopen()/memfd_create() calls come from libbpf.ts (the one bun:ffi
 * module) as NativeLibraries, so this policy is tested without loading.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EmbeddedLibraries } from "./embedded-libraries.ts";
import { BpfError } from "./errors.ts";

export const LIBBPF_VARIABLE = "NETFLOW_LIBBPF";
const NAMED_CHOICES = ["auto", "embedded", "memfd", "extracted", "system"] as const;
type NamedChoice = (typeof NAMED_CHOICES)[number];

export type LibbpfChoice = { kind: NamedChoice } | { kind: "path"; path: string };

/** NETFLOW_LIBBPF's value: unset or empty is auto; anything not a keyword is a path. */
export function parseLibbpfChoice(value: string | undefined): LibbpfChoice {
  const text = value?.trim() ?? "";
  if (text === "") return { kind: "auto" };
  if ((NAMED_CHOICES as readonly string[]).includes(text)) return { kind: text as NamedChoice };
  return { kind: "path", path: text };
}

/** What was loaded: `version` says it. */
export type LibbpfSource =
  | { kind: "memfd" }
  | { kind: "extracted"; dir: string }
  /** `path` as the dynamic loader found libbpf.so.1 (its link_map name). */
  | { kind: "system"; path: string }
  | { kind: "path"; path: string };

export function describeLibbpfSource(source: LibbpfSource): string {
  switch (source.kind) {
    case "memfd":
      return "embedded (memfd)";
    case "extracted":
      return `embedded (extracted to ${source.dir}, removed once loaded)`;
    case "system":
      return `system (${source.path})`;
    case "path":
      return `${LIBBPF_VARIABLE} (${source.path})`;
  }
}

/** Where libbpf was loaded from, and why the places tried before failed. */
export interface LibbpfOrigin {
  readonly source: LibbpfSource;
  /** "memfd: memfd_create: EACCES …", one per route passed over. */
  readonly skipped: readonly string[];
}

/** "embedded (extracted to /run/netflow-agent-x, removed once loaded); passed over memfd: memfd_create: EACCES …" */
export function describeLibbpfOrigin(origin: LibbpfOrigin): string {
  const where = describeLibbpfSource(origin.source);
  return origin.skipped.length === 0 ? where : `${where}; passed over ${origin.skipped.join("; ")}`;
}

/** The native calls this policy needs (implemented in libbpf.ts). Each throws an Error saying why. */
export interface NativeLibraries {
  /** A new memfd (close-on-exec, executable) holding `bytes`; returns its fd. */
  memoryFile(name: string, bytes: Uint8Array): number;
  /**
   * dlopen(path, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL)); returns the
   * name the dynamic loader gave the object (the path it found). The object
   * stays loaded for the life of the process.
   */
  open(path: string, global: boolean): string;
  closeFd(fd: number): void;
}

/** libbpf loaded by one route, its symbols not yet bound. */
export interface LibbpfLocation extends LibbpfOrigin {
  /** What to dlopen() to bind libbpf's symbols: the loader hands back the object already loaded. */
  readonly path: string;
  /** Closes the memfds or removes the extracted copies; call once the symbols are bound. */
  release(): void;
}

export interface LocateOptions {
  choice: LibbpfChoice;
  embedded: EmbeddedLibraries | undefined;
  native: NativeLibraries;
  /** Where `extracted` may create its directory, in order of preference. */
  extractBases?: string[];
}

const SYSTEM_LIBBPF = "libbpf.so.1";
const INSTALL_HINT = "install it: apt-get install libbpf1";
const TOO_OLD = "libbpf is not installed or too old (need libbpf 1.1 or newer)";

/** The directories `extracted` tries: the user's runtime directory, /run (root), the temp directory. */
export function defaultExtractBases(env = process.env): string[] {
  return [...new Set([env.XDG_RUNTIME_DIR, "/run", tmpdir()].filter((dir): dir is string => !!dir))];
}

type Route = "memfd" | "extracted" | "system" | "path";

function routesFor(choice: LibbpfChoice, embedded: boolean): Route[] {
  switch (choice.kind) {
    case "auto":
      return embedded ? ["memfd", "extracted", "system"] : ["system"];
    case "embedded":
      return ["memfd", "extracted"];
    case "memfd":
    case "extracted":
    case "system":
    case "path":
      return [choice.kind];
  }
}

/**
 * Loads libbpf (and, for the embedded routes, libelf) by the first route of
 * `choice` that works. Throws a BpfError naming every route's failure.
 */
export function locateLibbpf(options: LocateOptions): LibbpfLocation {
  const { choice, embedded, native } = options;
  const routes = routesFor(choice, embedded !== undefined);
  if (!embedded && (routes.includes("memfd") || routes.includes("extracted")))
    throw new BpfError(
      "loading the embedded libbpf",
      "this netflow-agent has none (it runs from source; bun build.ts builds an executable that has)",
      `${LIBBPF_VARIABLE}=system uses the host's libbpf.so.1`,
    );
  const skipped: string[] = [];
  for (const route of routes) {
    try {
      switch (route) {
        case "memfd":
          return fromMemory(embedded!, native, skipped);
        case "extracted":
          return extracted(embedded!, native, options.extractBases ?? defaultExtractBases(), skipped);
        case "system":
          return loaded(SYSTEM_LIBBPF, { kind: "system", path: native.open(SYSTEM_LIBBPF, false) }, skipped);
        case "path": {
          const path = (choice as { path: string }).path;
          native.open(path, false);
          return loaded(path, { kind: "path", path }, skipped);
        }
      }
    } catch (error) {
      skipped.push(`${route === "path" || route === "system" ? "" : route + ": "}${messageOf(error)}`);
    }
  }
  throw loadFailure(choice, routes, skipped);
}

function loaded(path: string, source: LibbpfSource, skipped: string[], release = () => {}): LibbpfLocation {
  let released = false;
  return {
    path,
    source,
    skipped,
    release() {
      if (released) return;
      released = true;
      release();
    },
  };
}

function fromMemory(files: EmbeddedLibraries, native: NativeLibraries, skipped: string[]): LibbpfLocation {
  const fds: number[] = [];
  const closeAll = () => fds.splice(0).forEach((fd) => native.closeFd(fd));
  try {
    const libelf = native.memoryFile("libelf.so.1", readFileSync(files.libelf));
    fds.push(libelf);
    native.open(`/proc/self/fd/${libelf}`, true);
    const libbpf = native.memoryFile("libbpf.so.1", readFileSync(files.libbpf));
    fds.push(libbpf);
    const path = `/proc/self/fd/${libbpf}`;
    native.open(path, false);
    // The fds stay open until the symbols are bound: the path must still name this memfd then.
    return loaded(path, { kind: "memfd" }, skipped, closeAll);
  } catch (error) {
    closeAll();
    throw error;
  }
}

function extracted(files: EmbeddedLibraries, native: NativeLibraries, bases: string[], skipped: string[]): LibbpfLocation {
  const failures: string[] = [];
  for (const base of bases) {
    let dir: string | undefined;
    try {
      dir = mkdtempSync(join(base, "netflow-agent-")); // mode 0700
      const libelf = join(dir, "libelf.so.1");
      const libbpf = join(dir, "libbpf.so.1");
      writeFileSync(libelf, readFileSync(files.libelf), { mode: 0o500 });
      writeFileSync(libbpf, readFileSync(files.libbpf), { mode: 0o500 });
      native.open(libelf, true);
      native.open(libbpf, false);
      const made = dir;
      return loaded(libbpf, { kind: "extracted", dir: made }, skipped, () => rmSync(made, { recursive: true, force: true }));
    } catch (error) {
      if (dir) rmSync(dir, { recursive: true, force: true });
      failures.push(`${base}: ${messageOf(error)}`);
    }
  }
  throw new Error(failures.length > 0 ? failures.join("; ") : "no directory to extract to");
}

/** One line: the reasons of the embedded routes in it; the dynamic loader's own text of a system load as the cause. */
function loadFailure(choice: LibbpfChoice, routes: Route[], skipped: string[]): BpfError {
  const cause = { cause: new Error(skipped.join("; ")) };
  if (choice.kind === "path") return new BpfError(`loading ${choice.path}`, TOO_OLD, INSTALL_HINT, cause);
  if (routes.length === 1 && routes[0] === "system") return new BpfError(`loading ${SYSTEM_LIBBPF}`, TOO_OLD, INSTALL_HINT, cause);
  const embedded = skipped.slice(0, routes.includes("system") ? -1 : undefined);
  const reasons = `the embedded copy did not load (${embedded.join("; ")})`;
  if (!routes.includes("system")) return new BpfError("loading libbpf", reasons, `${LIBBPF_VARIABLE}=system uses the host's libbpf.so.1`, cause);
  return new BpfError("loading libbpf", `${reasons}, nor did the host's ${SYSTEM_LIBBPF} (${skipped.at(-1)})`, INSTALL_HINT, cause);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
