/**
 * deploy/Containerfile: it installs the executable where the systemd unit
 * and the DaemonSet expect it, and its base image (Debian 12 slim: glibc 2.36,
 * zlib1g) has every shared library, at every glibc symbol version, that the
 * executable and the libraries embedded in it (libbpf, libelf) ask for.
 * No image is built here: no container engine runs on this machine.
 */
import { $ } from "bun";
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hostLibrary } from "../../build.ts";
import { copiedExecutable } from "../build/compiled-binary.ts";
import { repoRoot } from "../helpers/agent-process.ts";
import { testNeeding } from "../helpers/kernel-test.ts";
import { readUnit, serviceValue } from "./unit-file.ts";

const containerfile = readFileSync(join(repoRoot, "deploy", "Containerfile"), "utf8");
const readelfTest = testNeeding({ readelf: Bun.which("readelf") !== null }, "deploy test");

/** Debian 12 slim: libc6 (glibc 2.36) and zlib1g are both Priority: required. */
const BASE_IMAGE = "docker.io/library/debian:12-slim";
const BASE_LIBRARIES = ["ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libc.so.6", "libdl.so.2", "libm.so.6", "libpthread.so.0", "libz.so.1"];
const BASE_GLIBC = [2, 36];

function instructions(name: string): string[] {
  return [...containerfile.matchAll(new RegExp(`^${name} (.+)$`, "gm"))].map((m) => m[1]!);
}

test("the executable goes where the unit's ExecStart runs it, and is the image's entry point", () => {
  const exe = serviceValue(readUnit(), "ExecStart")!.split(/\s+/)[0]!;
  expect(instructions("FROM")).toEqual([BASE_IMAGE]);
  expect(instructions("COPY")).toEqual([`dist/netflow-agent ${exe}`, "dist/netflow-agent.notices /usr/share/doc/netflow-agent/NOTICES"]);
  expect(instructions("ENTRYPOINT")).toEqual([JSON.stringify([exe]).replace(/,/g, ", ")]);
  expect(instructions("CMD")).toEqual(['["run"]']);
});

/** NEEDED libraries and the newest GLIBC_x.y symbol version of an ELF file. */
async function elfNeeds(path: string) {
  const dynamic = await $`readelf --dynamic ${path}`.text();
  const versions = await $`readelf --version-info ${path}`.text();
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]!);
  const glibc = [...versions.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  const newest = glibc.reduce((a, b) => (b[0]! > a[0]! || (b[0] === a[0] && b[1]! > a[1]!) ? b : a), [0, 0]);
  return { needed, newest };
}

readelfTest("the base image has what the executable and its embedded libbpf and libelf need", async () => {
  using build = await copiedExecutable();
  const files = [build.exe, (await hostLibrary("libbpf.so.1")).realPath, (await hostLibrary("libelf.so.1")).realPath];
  for (const file of files) {
    const { needed, newest } = await elfNeeds(file);
    // libelf.so.1 is embedded and loaded before libbpf.
    expect({ file, missing: needed.filter((lib) => lib !== "libelf.so.1" && !BASE_LIBRARIES.includes(lib)) }).toEqual({ file, missing: [] });
    expect({ file, glibcTooNew: newest[0]! > BASE_GLIBC[0]! || (newest[0] === BASE_GLIBC[0] && newest[1]! > BASE_GLIBC[1]!) }).toEqual({ file, glibcTooNew: false });
  }
}, 120_000);
