/**
 * The executable as build.ts makes it (libbpf and libelf embedded), compiled
 * once per test process: compiling takes seconds and the tests of test/build/
 * share it. Each test copies it alone into an empty directory, as a user
 * copies one file.
 *
 * bun test runs no exit handler, so the build cannot be removed when its
 * process ends: it lives in <tmp>/netflow-test-build/<pid>, and each new
 * build removes those of processes that are gone.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileExecutable, hostLibrary } from "../../build.ts";

const BUILDS = join(tmpdir(), "netflow-test-build");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

let built: Promise<string> | undefined;

/** The path of the shared build (do not modify it; copiedExecutable gives a copy of one's own). */
export function compiledExecutable(): Promise<string> {
  built ??= (async () => {
    mkdirSync(BUILDS, { recursive: true });
    for (const name of readdirSync(BUILDS)) if (!alive(Number(name))) rmSync(join(BUILDS, name), { recursive: true, force: true });
    const dir = join(BUILDS, String(process.pid));
    mkdirSync(dir, { recursive: true });
    const exe = join(dir, "netflow-agent");
    await compileExecutable(exe);
    return exe;
  })();
  return built;
}

/** A copy of the executable, the only file in a new directory; disposing removes the directory. */
export async function copiedExecutable(): Promise<{ dir: string; exe: string } & Disposable> {
  const dir = mkdtempSync(join(tmpdir(), "netflow-exe-"));
  const exe = join(dir, "netflow-agent");
  copyFileSync(await compiledExecutable(), exe);
  return { dir, exe, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The host's libbpf.so.1 and libelf.so.1: the paths the dynamic loader knows and the files they name. */
export async function hostLibbpfFiles(): Promise<string[]> {
  const libraries = [await hostLibrary("libbpf.so.1"), await hostLibrary("libelf.so.1")];
  return [...new Set(libraries.flatMap((lib) => [lib.path, lib.realPath]))];
}

/**
 * `cmd` in a private mount namespace where each of `files` is an empty file
 * (`empty` bind-mounted over it): a dlopen() of them fails. The mounts end
 * with the namespace, i.e. with the process.
 */
export function withFilesHidden(files: string[], empty: string, cmd: string[]): string[] {
  const mounts = files.map((file) => `mount --bind '${empty}' '${file}'`).join(" && ");
  return ["unshare", "--mount", "--propagation", "private", "sh", "-c", `${mounts} && exec "$@"`, "sh", ...cmd];
}
