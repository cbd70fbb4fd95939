/**
 * Devices without an Ethernet header (tun here; WireGuard and IP tunnels
 * alike): packets start at the IP header and must be parsed from there.
 */
import { $ } from "bun";
import { expect } from "bun:test";
import { AgentProcess } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { sendUdp } from "../helpers/traffic.ts";

kernelTest("a tun device: flows with real addresses and ports, IP-packet byte counts, no MACs", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  // A persistent tun with no reader: the kernel drops what it sends, after TC egress has seen it.
  await $`ip -n ${a.ns} tuntap add dev tun0 mode tun`.quiet();
  await $`ip -n ${a.ns} addr add 198.19.250.1/24 dev tun0`.quiet();
  await $`ip -n ${a.ns} link set tun0 up`.quiet();
  await using agent = await AgentProcess.start(["run", "--cache-active-timeout", "1s", "--interfaces", "tun0"], { ns: a.ns });
  expect(agent.stderr).toContain("attached to tun0 (tcx");
  // Counted at TC egress, in the sender's own send call: in the map before sendUdp returns.
  expect(await sendUdp(a, "198.19.250.2", 5353, 42000, 40, 100)).toBe(40);
  expect(await agent.stop()).toBe(0);
  const flows = agent.flows.filter((f) => f.interface === "tun0" && f.srcPort === 42000);
  expect(flows.length).toBeGreaterThan(0);
  for (const f of flows)
    expect(f).toMatchObject({ direction: "egress", etherType: "IPv4", protocol: "UDP", srcAddr: "198.19.250.1", dstAddr: "198.19.250.2", dstPort: 5353, srcMac: "00:00:00:00:00:00" });
  expect(flows.reduce((s, f) => s + f.packets, 0)).toBe(40);
  expect(flows.reduce((s, f) => s + f.bytes, 0)).toBe(40 * (20 + 8 + 100)); // no link-layer header
}, 30000);
