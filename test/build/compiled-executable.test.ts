/**
 * The shipped form: one executable from build.ts (`bun build --compile`), the
 * BPF object, libbpf and libelf embedded in it. It loads, attaches and
 * detaches with no repository around.
 */
import { $ } from "bun";
import { expect } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentProcess } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { compiledExecutable } from "./compiled-binary.ts";

kernelTest("dist executable: version, then run in a namespace, flows printed, clean exit", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netflow-dist-"));
  try {
    const exe = join(dir, "netflow-agent");
    copyFileSync(await compiledExecutable(), exe);
    // Run from an empty directory: nothing may be read from the repository.
    const version = await $`${exe} version`.cwd(dir).text();
    expect(version).toStartWith("netflow-agent ");
    await using pair = await VethPair.create();
    await using agent = await AgentProcess.start(["run", "--interfaces", "lo", "--cache-active-timeout", "500ms"], { ns: pair.a.ns, command: [exe], cwd: dir });
    await $`ip netns exec ${pair.a.ns} ${process.execPath} -e ${'require("node:dgram").createSocket("udp4").send("x", 9, "127.0.0.1", () => process.exit(0))'}`.quiet();
    // Printed by a timed eviction.
    await waitFor("the datagram's flow printed", () => agent.flows.some((f) => f.interface === "lo" && f.protocol === "UDP" && f.dstPort === 9 && f.packets === 1));
    expect(await agent.stop()).toBe(0);
    expect(agent.stderr).toContain("attached to lo (tcx");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60000);
