/**
 * Which libbpf is loaded, in which order the places are tried, and what is
 * said when none works: library-loader.ts with the native calls recorded
 * instead of made. (Real loading is tested with the executable, the host's
 * copies hidden: test/build/embedded-libbpf.test.ts.)
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EmbeddedLibraries } from "../../src/bpf/embedded-libraries.ts";
import { describeLibbpfOrigin, locateLibbpf, parseLibbpfChoice, type NativeLibraries } from "../../src/bpf/library-loader.ts";

let dir: string;
let embedded: EmbeddedLibraries;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "netflow-loader-"));
  embedded = { libbpf: join(dir, "bpf.bin"), libelf: join(dir, "elf.bin"), notices: join(dir, "notices.txt") };
  writeFileSync(embedded.libbpf, "BPF");
  writeFileSync(embedded.libelf, "ELF");
  writeFileSync(embedded.notices, "notices");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Records every call; `refuse` makes a call fail with that text. */
function fakeNative(refuse: { memfd?: string; open?: (path: string) => string | undefined } = {}) {
  const calls: string[] = [];
  const written = new Map<number, string>();
  let nextFd = 10;
  const native: NativeLibraries = {
    memoryFile(name, bytes) {
      calls.push(`memfd ${name}`);
      if (refuse.memfd) throw new Error(refuse.memfd);
      const fd = nextFd++;
      written.set(fd, new TextDecoder().decode(bytes));
      return fd;
    },
    open(path, global) {
      const content = path.startsWith("/proc/self/fd/") ? written.get(Number(path.slice(14))) : existsSync(path) ? readFileSync(path, "utf8") : "";
      calls.push(`open ${path.startsWith(dir) ? path.replace(/netflow-agent-\w+/, "netflow-agent-X").replace(dir, "<base>") : path} ${global ? "global" : "local"} ${content}`);
      const refusal = refuse.open?.(path);
      if (refusal) throw new Error(refusal);
      return path === "libbpf.so.1" ? "/lib/x86_64-linux-gnu/libbpf.so.1" : path;
    },
    closeFd(fd) {
      calls.push(`close ${fd}`);
    },
  };
  return { native, calls };
}

describe("NETFLOW_LIBBPF", () => {
  test("unset or empty is auto; keywords; anything else is a path", () => {
    expect(parseLibbpfChoice(undefined)).toEqual({ kind: "auto" });
    expect(parseLibbpfChoice(" ")).toEqual({ kind: "auto" });
    for (const kind of ["auto", "embedded", "memfd", "extracted", "system"]) expect(parseLibbpfChoice(kind)).toEqual({ kind } as never);
    expect(parseLibbpfChoice("/opt/libbpf/libbpf.so.1")).toEqual({ kind: "path", path: "/opt/libbpf/libbpf.so.1" });
  });
});

describe("routes", () => {
  test("memfd: libelf first and global (libbpf's DT_NEEDED resolves to it), libbpf local; fds closed on release", () => {
    const { native, calls } = fakeNative();
    const found = locateLibbpf({ choice: { kind: "auto" }, embedded, native, extractBases: [dir] });
    expect(found.path).toBe("/proc/self/fd/11");
    expect(describeLibbpfOrigin(found)).toBe("embedded (memfd)");
    expect(calls).toEqual(["memfd libelf.so.1", "open /proc/self/fd/10 global ELF", "memfd libbpf.so.1", "open /proc/self/fd/11 local BPF"]);
    found.release();
    found.release();
    expect(calls.slice(4)).toEqual(["close 10", "close 11"]);
  });

  test("memfd refused: extracted to a 0700 directory, same order, removed on release", () => {
    const { native, calls } = fakeNative({ memfd: "memfd_create: EACCES" });
    const found = locateLibbpf({ choice: { kind: "auto" }, embedded, native, extractBases: [dir] });
    expect(found.source.kind).toBe("extracted");
    const made = (found.source as { dir: string }).dir;
    expect(made).toStartWith(join(dir, "netflow-agent-"));
    expect(statSync(made).mode & 0o777).toBe(0o700);
    expect(statSync(join(made, "libbpf.so.1")).mode & 0o777).toBe(0o500);
    expect(found.path).toBe(join(made, "libbpf.so.1"));
    expect(calls).toEqual([
      "memfd libelf.so.1",
      "open <base>/netflow-agent-X/libelf.so.1 global ELF",
      "open <base>/netflow-agent-X/libbpf.so.1 local BPF",
    ]);
    expect(describeLibbpfOrigin(found)).toBe(`embedded (extracted to ${made}, removed once loaded); passed over memfd: memfd_create: EACCES`);
    found.release();
    expect(existsSync(made)).toBe(false);
  });

  test("extraction tries each base in turn and leaves nothing where loading failed", () => {
    const noexec = join(dir, "noexec");
    const good = join(dir, "good");
    for (const d of [noexec, good]) mkdirSync(d);
    const notADirectory = join(dir, "file");
    writeFileSync(notADirectory, ""); // mkdtemp fails under it
    const bases = [notADirectory, noexec, good];
    const { native } = fakeNative({
      memfd: "memfd_create: EACCES",
      open: (path) => (path.startsWith(noexec) ? "failed to map segment from shared object" : undefined),
    });
    const found = locateLibbpf({ choice: { kind: "extracted" }, embedded, native, extractBases: bases });
    expect((found.source as { dir: string }).dir).toStartWith(join(good, "netflow-agent-"));
    expect(readdirSync(noexec)).toEqual([]);
    found.release();
    expect(readdirSync(good)).toEqual([]);
  });

  test("both embedded routes refused: the system's libbpf.so.1, as the loader found it", () => {
    const { native } = fakeNative({ memfd: "memfd_create: EACCES", open: (path) => (path.startsWith(dir) ? "noexec" : undefined) });
    const found = locateLibbpf({ choice: { kind: "auto" }, embedded, native, extractBases: [dir] });
    expect(found.path).toBe("libbpf.so.1");
    expect(found.source).toEqual({ kind: "system", path: "/lib/x86_64-linux-gnu/libbpf.so.1" });
    expect(found.skipped).toEqual(["memfd: memfd_create: EACCES", `extracted: ${dir}: noexec`]);
  });

  test("run from source (nothing embedded): auto is the system's libbpf, embedded is an error", () => {
    const { native, calls } = fakeNative();
    expect(locateLibbpf({ choice: { kind: "auto" }, embedded: undefined, native }).source.kind).toBe("system");
    expect(calls).toEqual(["open libbpf.so.1 local "]);
    for (const kind of ["embedded", "memfd", "extracted"] as const)
      expect(() => locateLibbpf({ choice: { kind }, embedded: undefined, native })).toThrow(
        "loading the embedded libbpf: this netflow-agent has none (it runs from source; bun build.ts builds an executable that has) — NETFLOW_LIBBPF=system uses the host's libbpf.so.1",
      );
  });

  test("system and a path skip the embedded copy", () => {
    const { native, calls } = fakeNative();
    expect(locateLibbpf({ choice: { kind: "system" }, embedded, native }).source.kind).toBe("system");
    expect(locateLibbpf({ choice: { kind: "path", path: "/opt/libbpf.so.1" }, embedded, native }).source).toEqual({ kind: "path", path: "/opt/libbpf.so.1" });
    expect(calls).toEqual(["open libbpf.so.1 local ", "open /opt/libbpf.so.1 local "]);
  });
});

describe("failures: one line naming what was tried", () => {
  const refuseAll = () => fakeNative({ memfd: "memfd_create: EACCES", open: () => "cannot open shared object file" });

  test("a path", () => {
    expect(() => locateLibbpf({ choice: { kind: "path", path: "/nonexistent/libbpf.so.1" }, embedded, native: refuseAll().native })).toThrow(
      "loading /nonexistent/libbpf.so.1: libbpf is not installed or too old (need libbpf 1.1 or newer) — install it: apt-get install libbpf1",
    );
  });

  test("auto: the embedded routes' reasons, then the system's", () => {
    expect(() => locateLibbpf({ choice: { kind: "auto" }, embedded, native: refuseAll().native, extractBases: [dir] })).toThrow(
      `loading libbpf: the embedded copy did not load (memfd: memfd_create: EACCES; extracted: ${dir}: cannot open shared object file), ` +
        "nor did the host's libbpf.so.1 (cannot open shared object file) — install it: apt-get install libbpf1",
    );
  });

  test("embedded: the routes' reasons and the way out", () => {
    expect(() => locateLibbpf({ choice: { kind: "embedded" }, embedded, native: refuseAll().native, extractBases: [dir] })).toThrow(
      `loading libbpf: the embedded copy did not load (memfd: memfd_create: EACCES; extracted: ${dir}: cannot open shared object file) — NETFLOW_LIBBPF=system uses the host's libbpf.so.1`,
    );
  });
});
