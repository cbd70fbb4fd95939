/**
 * Least privilege, end to end: the agent run as uid 65534 (nobody) with only
 * CAP_BPF and CAP_NET_ADMIN, as ambient capabilities, loads, attaches, counts
 * every packet exactly and detaches (asked for drops, which also need
 * CAP_PERFMON, it says so once and runs without them); with no capabilities it stops at the
 * privilege check with the one privilege text.
 *
 * Self-sufficient: the agent under test is this checkout compiled into one
 * executable in a world-readable temp dir, so nothing the test user cannot
 * read (the repository, Bun, node_modules) is needed.
 */
import { $ } from "bun";
import { expect } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { repoRoot } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { waitForFlowsToMatchCounters } from "../helpers/interface-totals.ts";
import { counterDelta, VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import { DEADLINE_MS, waitFor } from "../helpers/wait-for.ts";

const NOBODY = 65534;
/** setpriv: drop to nobody, keep CAP_BPF and CAP_NET_ADMIN across exec as ambient capabilities. */
const AS_NOBODY = ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"];
const WITH_CAPS = ["--inh-caps=+bpf,+net_admin", "--ambient-caps=+bpf,+net_admin"];
const CAP_NET_ADMIN = 12n;
const CAP_BPF = 39n;

/** This checkout as one executable (BPF object embedded), readable and runnable by nobody. */
async function buildAgent(): Promise<{ exe: string } & Disposable> {
  const dir = mkdtempSync(join(tmpdir(), "netflow-nobody-"));
  chmodSync(dir, 0o755); // mkdtemp makes it 0700: nobody could not reach the executable
  const exe = join(dir, "netflow-agent");
  await $`bun build --compile src/cli/main.ts --outfile ${exe}`.cwd(repoRoot).quiet();
  chmodSync(exe, 0o755);
  return { exe, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The agent in namespace `ns` as nobody; its flows are parsed as they are printed. */
async function startAsNobody(exe: string, ns: string, args: string[], caps = WITH_CAPS) {
  const proc = Bun.spawn(["ip", "netns", "exec", ns, ...AS_NOBODY, ...caps, exe, ...args], {
    cwd: "/",
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1", TZ: "Etc/UTC" },
  });
  let stderr = "";
  const stderrDone = (async () => {
    const reader = proc.stderr.getReader();
    const decoder = new TextDecoder();
    for (let r = await reader.read(); !r.done; r = await reader.read()) stderr += decoder.decode(r.value, { stream: true });
  })();
  const flows: FlowJson[] = [];
  const stdoutDone = (async () => {
    const reader = proc.stdout.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      text += decoder.decode(r.value, { stream: true });
      const lines = text.split("\n");
      text = lines.pop()!;
      for (const line of lines) if (line.startsWith("{")) flows.push(JSON.parse(line));
    }
  })();
  const deadline = Date.now() + DEADLINE_MS;
  while (!stderr.includes("capturing on") && proc.exitCode === null && Date.now() < deadline) await Bun.sleep(20);
  const agent = {
    pid: proc.pid,
    get stderr() {
      return stderr;
    },
    /** The flows printed so far. */
    flows,
    /** SIGTERM, the final flush, then the flows printed and the exit code. */
    async stop(): Promise<{ code: number; flows: FlowJson[] }> {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const code = await proc.exited;
      await stderrDone;
      await stdoutDone;
      return { code, flows };
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null) proc.kill("SIGKILL");
      await proc.exited;
    },
  };
  return agent;
}

const sum = (flows: FlowJson[], f: (x: FlowJson) => number) => flows.reduce((s, x) => s + f(x), 0);

kernelTest("as nobody with ambient CAP_BPF + CAP_NET_ADMIN only: loads, attaches (tcx and tc), counts exactly, detaches", async () => {
  using build = await buildAgent();
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  for (const mode of ["auto", "tc"] as const) {
    // --enable-drops needs CAP_PERFMON too: without it, one warning, and everything else runs.
    const drops = mode === "auto" ? ["--enable-drops"] : [];
    await using agent = await startAsNobody(build.exe, a.ns, ["run", "--attach-mode", mode, "--interfaces", a.ifname, "--api", "off", "--cache-active-timeout", "1s", ...drops]);
    expect(agent.stderr).toContain(`attached to veth-a (${mode === "auto" ? "tcx" : "tc"}, ifindex`);
    if (drops.length) {
      const warnings = agent.stderr.split("\n").filter((line) => line.includes("drops are off"));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain("CAP_PERFMON");
    }
    // What the kernel sees of the process: nobody, and exactly the two capabilities.
    const status = readFileSync(`/proc/${agent.pid}/status`, "utf8");
    expect(status).toMatch(new RegExp(`^Uid:\\t${NOBODY}\\t${NOBODY}\\t${NOBODY}\\t${NOBODY}$`, "m"));
    expect(BigInt("0x" + /^CapEff:\t([0-9a-f]+)$/m.exec(status)![1])).toBe((1n << CAP_BPF) | (1n << CAP_NET_ADMIN));

    const before = pair.counters(a);
    const out = await receiveUdp(b, b.ipv4, 7300, 200);
    const back = await receiveUdp(a, a.ipv6, 7301, 80);
    expect(await sendUdp(a, b.ipv4, 7300, 43000, 200, 400)).toBe(200);
    expect(await sendUdp(b, a.ipv6, 7301, 43001, 80, 900)).toBe(80);
    out.kill();
    back.kill();
    await waitForFlowsToMatchCounters(pair, a, before, () => agent.flows);
    const { code, flows } = await agent.stop();
    expect(code).toBe(0);
    const delta = counterDelta(before, pair.counters(a));
    const onVeth = flows.filter((f) => f.interface === a.ifname);
    const udpOut = onVeth.filter((f) => f.direction === "egress" && f.srcPort === 43000 && f.dstPort === 7300);
    const udpIn = onVeth.filter((f) => f.direction === "ingress" && f.srcPort === 43001 && f.dstPort === 7301);
    expect({ packets: sum(udpOut, (f) => f.packets), bytes: sum(udpOut, (f) => f.bytes) }).toEqual({ packets: 200, bytes: 200 * udpFrameBytes(400, false) });
    expect({ packets: sum(udpIn, (f) => f.packets), bytes: sum(udpIn, (f) => f.bytes) }).toEqual({ packets: 80, bytes: 80 * udpFrameBytes(900, true) });
    const egress = onVeth.filter((f) => f.direction === "egress");
    const ingress = onVeth.filter((f) => f.direction === "ingress");
    expect({ packets: sum(egress, (f) => f.packets), bytes: sum(egress, (f) => f.bytes) }).toEqual({ packets: delta.txPackets, bytes: delta.txBytes });
    expect({ packets: sum(ingress, (f) => f.packets), bytes: sum(ingress, (f) => f.bytes) }).toEqual({ packets: delta.rxPackets, bytes: delta.rxBytes });
    // Nothing left behind: no clsact, no filters (TCX links go with the process).
    expect(await $`ip netns exec ${a.ns} tc filter show dev ${a.ifname} ingress`.nothrow().text()).toBe("");
    expect(await $`ip netns exec ${a.ns} tc qdisc show dev ${a.ifname}`.text()).not.toContain("clsact");
  }
}, 90000);

kernelTest("as nobody in tc mode, a root agent's filters (whose holder nobody cannot see) are left alone; that agent counts on", async () => {
  using build = await buildAgent();
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  const args = ["run", "--attach-mode", "tc", "--interfaces", a.ifname, "--api", "off", "--cache-active-timeout", "1s"];
  const root = Bun.spawn(["ip", "netns", "exec", a.ns, build.exe, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  try {
    const rootOut = new Response(root.stdout).text();
    const rootErr = new Response(root.stderr).text();
    await waitFor("the root agent's tc filters", async () => (await $`ip netns exec ${a.ns} tc filter show dev ${a.ifname} egress`.nothrow().text()).includes("direct-action"));
    const before = pair.counters(a);
    {
      await using nobody = await startAsNobody(build.exe, a.ns, args);
      expect(nobody.stderr).toContain(
        "left veth-a alone: tc filters sit at our handle whose holder this user cannot see (other users' /proc/<pid>/fd need CAP_SYS_PTRACE); " +
          "if no other netflow-agent runs, one run as root removes them",
      );
      expect(nobody.stderr).not.toContain("attached to veth-a");
      const out = await receiveUdp(b, b.ipv4, 7302, 150);
      expect(await sendUdp(a, b.ipv4, 7302, 43002, 150, 100)).toBe(150);
      out.kill();
      expect((await nobody.stop()).code).toBe(0);
    }
    // Only egress is compared below: counted at TC egress in the sender's own send calls, so every
    // packet is in the root agent's map already; its final eviction at SIGTERM prints them.
    root.kill("SIGTERM");
    expect(await root.exited).toBe(0);
    const delta = counterDelta(before, pair.counters(a));
    const flows = (await rootOut).split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as FlowJson);
    const egress = flows.filter((f) => f.interface === a.ifname && f.direction === "egress");
    const udp = egress.filter((f) => f.srcPort === 43002 && f.dstPort === 7302);
    expect({ packets: sum(udp, (f) => f.packets), bytes: sum(udp, (f) => f.bytes) }).toEqual({ packets: 150, bytes: 150 * udpFrameBytes(100, false) });
    expect({ packets: sum(egress, (f) => f.packets), bytes: sum(egress, (f) => f.bytes) }).toEqual({ packets: delta.txPackets, bytes: delta.txBytes });
    expect(await rootErr).toContain("attached to veth-a (tc,");
  } finally {
    if (root.exitCode === null) root.kill("SIGKILL");
    await root.exited;
  }
}, 90000);

kernelTest("as nobody without capabilities: exit 1 at the privilege check, naming what is missing", async () => {
  using build = await buildAgent();
  await using pair = await VethPair.create();
  await using agent = await startAsNobody(build.exe, pair.a.ns, ["run", "--api", "off"], ["--inh-caps=-all"]);
  const { code } = await agent.stop();
  expect(code).toBe(1);
  expect(agent.stderr).toBe(
    "netflow-agent: error: loading BPF programs: this process lacks CAP_BPF and CAP_NET_ADMIN — needs root, or CAP_BPF and CAP_NET_ADMIN " +
      "(CAP_SYS_ADMIN instead of CAP_BPF on kernels before 5.8; CAP_PERFMON is not needed): run it with sudo, or grant those capabilities\n",
  );
}, 60000);
