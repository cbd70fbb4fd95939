/** `netflow-agent version`: this build, libbpf (which one, from where) and the kernel. */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { release } from "node:os";
import { embeddedLibraries } from "../bpf/embedded-libraries.ts";
import { libbpfOrigin, libbpfVersion } from "../bpf/libbpf.ts";
import { describeLibbpfOrigin, LIBBPF_VARIABLE } from "../bpf/library-loader.ts";
import { AGENT_VERSION } from "../version.ts";
import { writeStdout } from "../write-sync.ts";

export function registerVersion(program: Command) {
  program
    .command("version")
    .summary("print the versions of netflow-agent, libbpf and the kernel, and where libbpf was loaded from")
    .description(
      [
        "Print the versions of netflow-agent, libbpf and the kernel, and where libbpf was loaded from: " +
          "embedded (memfd), embedded (extracted to a directory), or system (its path).",
        `The executable built by build.ts carries libbpf.so.1 and libelf.so.1 and loads them from memory (memfd); ` +
          `where the kernel refuses executable memfds it extracts them to a private directory and removes them once loaded, ` +
          `and failing both it uses the system's libbpf.so.1. Built on Debian 12, it needs glibc 2.33 or newer and libz.so.1 on the host. ` +
          `${LIBBPF_VARIABLE} chooses: auto (that order, the default), embedded (memfd or extracted), memfd, extracted, ` +
          `system, or the path of a libbpf.so.1. Run from source, auto is the system's libbpf.`,
      ].join("\n\n"),
    )
    .option("--notices", "print the copyright and licence notices of the embedded libbpf and libelf")
    .action((flags: { notices?: boolean }) => {
      if (flags.notices) {
        writeStdout(
          embeddedLibraries
            ? readFileSync(embeddedLibraries.notices, "utf8")
            : "nothing embedded: this netflow-agent runs from source and uses the system's libbpf\n",
        );
        return;
      }
      let libbpf: string;
      try {
        libbpf = `${libbpfVersion()} ${describeLibbpfOrigin(libbpfOrigin())}`;
      } catch (error) {
        libbpf = `not found (${error instanceof Error ? error.message : error})`;
      }
      writeStdout(`netflow-agent ${AGENT_VERSION}\nlibbpf ${libbpf}\nkernel ${release()}\nbun ${Bun.version}\n`);
    });
}
