/**
 * What the agent leaves in the kernel: nothing, after SIGTERM or SIGINT, in
 * TCX and in legacy tc mode; after a crash in tc mode the next run removes
 * the filters left behind. A running agent's filters are never taken over,
 * whether the newcomer is in tc mode or auto falling back to tc (forced here
 * with NETFLOW_TCX=off, as on a kernel before 6.6). Interfaces that appear
 * later are attached, and removed ones dropped.
 */
import { $ } from "bun";
import { expect } from "bun:test";
import { join } from "node:path";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { waitForFlowsToMatchCounters } from "../helpers/interface-totals.ts";
import { counterDelta, VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";

const tcxCount = join(import.meta.dir, "..", "helpers", "tcx-count.ts");

/** TCX programs on the device, ingress + egress (BPF_PROG_QUERY inside the namespace). */
async function tcxLinks(ns: string, dev: string): Promise<number> {
  return Number(await $`ip netns exec ${ns} ${process.execPath} ${tcxCount} ${dev}`.text());
}

async function tcState(ns: string, dev: string) {
  const qdisc = await $`ip netns exec ${ns} tc qdisc show dev ${dev}`.text();
  const ingress = await $`ip netns exec ${ns} tc filter show dev ${dev} ingress`.nothrow().text();
  const egress = await $`ip netns exec ${ns} tc filter show dev ${dev} egress`.nothrow().text();
  return { clsact: qdisc.includes("clsact"), filters: (ingress + egress).split("\n").filter((l) => l.includes("direct-action")).length };
}

kernelTest("TCX: links while running, none after SIGTERM and none after SIGINT", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    await using agent = await AgentProcess.start(["run"], { ns: a.ns });
    expect(await tcxLinks(a.ns, a.ifname)).toBe(2);
    expect(await tcxLinks(a.ns, "lo")).toBe(2);
    expect(await agent.stop(signal)).toBe(0);
    expect(await tcxLinks(a.ns, a.ifname)).toBe(0);
    expect(await tcxLinks(a.ns, "lo")).toBe(0);
    expect(agent.stderr).toContain(`${signal}: detaching and flushing`);
  }
}, 30000);

kernelTest("tc mode: clsact + filters while running, nothing after SIGTERM; a crashed run's filters are removed", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  const args = ["run", "--attach-mode", "tc", "--interfaces", a.ifname];
  {
    await using agent = await AgentProcess.start(args, { ns: a.ns });
    expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: true, filters: 2 });
    expect(agent.stderr).toContain("attached to veth-a (tc,");
    expect(await agent.stop()).toBe(0);
    expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: false, filters: 0 });
  }
  {
    const crashed = await AgentProcess.start(args, { ns: a.ns });
    await crashed.stop("SIGKILL");
    expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: true, filters: 2 });
  }
  {
    await using agent = await AgentProcess.start(args, { ns: a.ns });
    expect(agent.stderr).toContain("removed 2 tc filter(s) a previous run left on veth-a");
    expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: true, filters: 2 });
    expect(await agent.stop()).toBe(0);
    // The clsact was the crashed run's, not this run's: filters go, the qdisc is left to its owner.
    expect((await tcState(a.ns, a.ifname)).filters).toBe(0);
  }
}, 30000);

kernelTest("tc mode: a second agent leaves a running agent's filters alone", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  const args = ["run", "--attach-mode", "tc", "--interfaces", a.ifname, "--api", "off"];
  await using first = await AgentProcess.start(args, { ns: a.ns });
  await using second = await AgentProcess.start(args, { ns: a.ns });
  expect(second.stderr).toContain(`left veth-a alone: process ${first.pid} holds the tc filters at our handle`);
  // One line says why nothing is captured, naming the filter; no empty interface list.
  expect(second.stderr).toContain(
    "netflow-agent: warn: capturing on no interface yet: veth-a matches --interfaces 'veth-a' but was left alone (see above); waiting for another to appear (looking every 1000 ms)\n",
  );
  expect(second.stderr).not.toContain("interface(s)");
  expect(second.stderr).not.toContain("removed");
  expect(await second.stop()).toBe(0);
  expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: true, filters: 2 });
  expect(await first.stop()).toBe(0);
  expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: false, filters: 0 });
}, 30000);

kernelTest("auto falling back to tc (NETFLOW_TCX=off) leaves a running tc-mode agent's filters alone; that agent counts exactly", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  await using first = await AgentProcess.start(["run", "--attach-mode", "tc", "--interfaces", a.ifname, "--api", "off", "--cache-active-timeout", "1s"], {
    ns: a.ns,
  });
  const before = pair.counters(a);
  const sink = await receiveUdp(b, b.ipv4, 7200, 300);
  expect(await sendUdp(a, b.ipv4, 7200, 42000, 100, 200)).toBe(100);
  {
    await using second = await AgentProcess.start(["run", "--interfaces", a.ifname, "--api", "off"], { ns: a.ns, env: { NETFLOW_TCX: "off" } });
    expect(second.stderr).toContain("NETFLOW_TCX=off: TCX counts as unsupported, so auto attaches with clsact + cls_bpf");
    expect(second.stderr).toContain(
      `left veth-a alone: TCX is turned off (NETFLOW_TCX=off), and process ${first.pid} holds the tc filters at the handle the fallback would use (another netflow-agent in tc mode?)`,
    );
    expect(second.stderr).not.toContain("attached to veth-a");
    expect(second.stderr).not.toContain("removed");
    expect(await sendUdp(a, b.ipv4, 7200, 42000, 100, 200)).toBe(100); // both running
    expect(await second.stop()).toBe(0);
  }
  // The second agent's exit took nothing of the first's.
  expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: true, filters: 2 });
  expect(await sendUdp(a, b.ipv4, 7200, 42000, 100, 200)).toBe(100);
  sink.kill();
  await waitForFlowsToMatchCounters(pair, a, before, () => first.flows);
  expect(await first.stop()).toBe(0);
  const delta = counterDelta(before, pair.counters(a));
  const flows = first.flows.filter((f) => f.interface === a.ifname);
  const sum = (list: typeof flows, f: (x: (typeof flows)[number]) => number) => list.reduce((s, x) => s + f(x), 0);
  const udp = flows.filter((f) => f.direction === "egress" && f.srcPort === 42000 && f.dstPort === 7200);
  expect({ packets: sum(udp, (f) => f.packets), bytes: sum(udp, (f) => f.bytes) }).toEqual({ packets: 300, bytes: 300 * udpFrameBytes(200, false) });
  const egress = flows.filter((f) => f.direction === "egress");
  const ingress = flows.filter((f) => f.direction === "ingress");
  expect({ packets: sum(egress, (f) => f.packets), bytes: sum(egress, (f) => f.bytes) }).toEqual({ packets: delta.txPackets, bytes: delta.txBytes });
  expect({ packets: sum(ingress, (f) => f.packets), bytes: sum(ingress, (f) => f.bytes) }).toEqual({ packets: delta.rxPackets, bytes: delta.rxBytes });
  expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: false, filters: 0 });
}, 60000);

kernelTest("a crashed tc run's filters are removed by the same guard on both auto paths: the tc fallback and TCX", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  const crash = async () => {
    const crashed = await AgentProcess.start(["run", "--attach-mode", "tc", "--interfaces", a.ifname, "--api", "off"], { ns: a.ns });
    await crashed.stop("SIGKILL");
    expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: true, filters: 2 });
  };
  await crash();
  {
    await using agent = await AgentProcess.start(["run", "--interfaces", a.ifname, "--api", "off"], { ns: a.ns, env: { NETFLOW_TCX: "off" } });
    expect(agent.stderr).toContain("removed 2 tc filter(s) a previous run left on veth-a");
    expect(agent.stderr).toContain("attached to veth-a (tc,");
    expect(await tcState(a.ns, a.ifname)).toEqual({ clsact: true, filters: 2 });
    expect(await agent.stop()).toBe(0);
    expect((await tcState(a.ns, a.ifname)).filters).toBe(0);
  }
  await crash();
  {
    await using agent = await AgentProcess.start(["run", "--interfaces", a.ifname, "--api", "off"], { ns: a.ns });
    expect(agent.stderr).toContain("removed 2 tc filter(s) a previous run left on veth-a");
    expect(agent.stderr).toContain("attached to veth-a (tcx,");
    expect((await tcState(a.ns, a.ifname)).filters).toBe(0);
    expect(await tcxLinks(a.ns, a.ifname)).toBe(2);
    expect(await agent.stop()).toBe(0);
  }
}, 60000);

kernelTest("NETFLOW_TCX takes \"off\" or nothing; --attach-mode tcx with it off says why it cannot attach", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  const bad = Bun.spawnSync(["ip", "netns", "exec", a.ns, process.execPath, cliPath, "run", "--api", "off"], { env: { ...process.env, NETFLOW_TCX: "no" } });
  expect(bad.exitCode).toBe(1);
  expect(bad.stderr.toString()).toBe(
    'netflow-agent: error: reading NETFLOW_TCX: "no" is not a setting — set it to "off" (TCX counts as unsupported) or leave it unset\n',
  );
  await using agent = await AgentProcess.start(["run", "--attach-mode", "tcx", "--interfaces", a.ifname, "--api", "off"], {
    ns: a.ns,
    env: { NETFLOW_TCX: "off" },
  });
  expect(agent.stderr).toContain(
    "attaching tcx ingress to veth-a: TCX is turned off (NETFLOW_TCX=off) — unset NETFLOW_TCX, or use --attach-mode auto or tc",
  );
  expect(await tcxLinks(a.ns, a.ifname)).toBe(0);
  expect(await agent.stop()).toBe(0);
}, 30000);

kernelTest("an interface created later is attached; a deleted one is dropped", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  await using agent = await AgentProcess.start(["run", "--interface-poll-interval", "200ms", "--exclude-interfaces", "lo"], { ns: a.ns });
  expect(agent.stderr).not.toContain("attached to lo");
  await $`ip -n ${a.ns} link add late0 type veth peer name late1`.quiet();
  await waitFor("late0 attached", () => agent.stderr.includes("attached to late0"));
  expect(agent.stderr).toContain("attached to late0 (tcx");
  expect(await tcxLinks(a.ns, "late0")).toBe(2);
  await $`ip -n ${a.ns} link del late0`.quiet();
  await waitFor("late0 detached", () => agent.stderr.includes("detached from late0"));
  expect(agent.stderr).toContain("detached from late0 (interface removed)");
  expect(await agent.stop()).toBe(0);
}, 30000);
