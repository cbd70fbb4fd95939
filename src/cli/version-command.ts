/** `netflow-agent version`: this build, libbpf and the kernel. */
import type { Command } from "commander";
import { release } from "node:os";
import { libbpfVersion } from "../bpf/libbpf.ts";
import { AGENT_VERSION } from "../version.ts";
import { writeStdout } from "../write-sync.ts";

export function registerVersion(program: Command) {
  program
    .command("version")
    .summary("print the versions of netflow-agent, libbpf and the kernel")
    .action(() => {
      let libbpf: string;
      try {
        libbpf = libbpfVersion();
      } catch (error) {
        libbpf = `not found (${error instanceof Error ? error.message : error})`;
      }
      writeStdout(`netflow-agent ${AGENT_VERSION}\nlibbpf ${libbpf}\nkernel ${release()}\nbun ${Bun.version}\n`);
    });
}
