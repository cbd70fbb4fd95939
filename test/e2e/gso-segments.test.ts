/**
 * GSO skbs count as the segments they become on the wire. iperf3 over a veth
 * pair with TSO/GSO on (veth's default): the TCP sender hands the device
 * skbs of up to 64 KB; the agent, attached to the sender's veth, counts each
 * as its gso_segs segments. Its egress TCP packets then equal the segments
 * the sender's TCP sent by its own count (/proc/net/snmp of the sender's
 * namespace: OutSegs, plus RetransSegs, which Linux keeps apart from
 * OutSegs), and its bytes equal the interface's tx_bytes plus the headers
 * every further segment repeats (Ethernet 14 + IPv4 20 + TCP 20, or 32 with
 * timestamps). The agent is stopped with SIGTERM; its final eviction counts.
 *
 * The namespace's TCP counters include loopback: the agent runs with
 * --api off so nothing else in that namespace speaks TCP.
 */
import { $ } from "bun";
import { expect } from "bun:test";
import { AgentProcess } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair, type Host } from "../helpers/netns.ts";
import { waitForTcpClosed, waitForTcpListener } from "../helpers/traffic.ts";
import type { FlowJson } from "../../src/flow/flow-format.ts";

/** One row of /proc/net/snmp ("Tcp:", "Udp:" …) as name → value, read inside the namespace. */
async function snmp(host: Host, row: string): Promise<Record<string, number>> {
  const lines = (await $`ip netns exec ${host.ns} cat /proc/net/snmp`.text()).split("\n").filter((l) => l.startsWith(`${row}:`));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

/** tx packets, bytes and drops of the interface (stats64), read inside the namespace. */
async function txCounters(host: Host) {
  const stats = JSON.parse(await $`ip -n ${host.ns} -s -j link show ${host.ifname}`.text())[0].stats64.tx;
  return { packets: stats.packets as number, bytes: stats.bytes as number, dropped: stats.dropped as number };
}

const sum = (flows: FlowJson[], f: (x: FlowJson) => number) => flows.reduce((s, x) => s + f(x), 0);

kernelTest("iperf3 over veth with TSO: egress TCP packets equal the sender's TCP segments, bytes its wire bytes", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();

  // The offloads: `ethtool -k` when installed; in any case the segments-vs-skbs check below shows GSO at work.
  const ethtool = Bun.which("ethtool");
  if (ethtool) {
    const features = await $`ip netns exec ${a.ns} ${ethtool} -k ${a.ifname}`.text();
    expect(features).toMatch(/tcp-segmentation-offload: on/);
    expect(features).toMatch(/generic-segmentation-offload: on/);
  } else console.error("gso-segments: ethtool not installed; GSO is shown by segments > skbs instead");
  const timestamps = Number((await $`ip netns exec ${a.ns} sysctl -n net.ipv4.tcp_timestamps`.text()).trim());
  const headerBytes = 14 + 20 + (timestamps === 1 ? 32 : 20); // per further segment: Ethernet, IPv4, TCP (+ timestamps option)

  await using agent = await AgentProcess.start(["run", "--cache-active-timeout", "1s", "--interfaces", a.ifname, "--api", "off"], { ns: a.ns });
  const server = Bun.spawn(["ip", "netns", "exec", b.ns, "iperf3", "-s", "-1", "-B", b.ipv4, "-p", "5201"], { stdout: "ignore", stderr: "pipe" });
  try {
    await waitForTcpListener(b, 5201);

    const tcpBefore = await snmp(a, "Tcp");
    const txBefore = await txCounters(a);
    await $`ip netns exec ${a.ns} iperf3 -4 -c ${b.ipv4} -p 5201 -t 3`.quiet();
    expect(await server.exited).toBe(0);
    // The last FINs and ACKs: sent (egress is counted in the sending call) once no socket is left but in TIME-WAIT.
    await waitForTcpClosed([a, b], 5201);
    const tcpAfter = await snmp(a, "Tcp");
    const txAfter = await txCounters(a);

    expect(await agent.stop()).toBe(0);
    const egress = agent.flows.filter((f) => f.interface === a.ifname && f.direction === "egress");
    const tcp = egress.filter((f) => f.protocol === "TCP");
    const segments = tcpAfter.OutSegs! - tcpBefore.OutSegs!;
    const retransmitted = tcpAfter.RetransSegs! - tcpBefore.RetransSegs!;
    const tx = { packets: txAfter.packets - txBefore.packets, bytes: txAfter.bytes - txBefore.bytes, dropped: txAfter.dropped - txBefore.dropped };
    console.error(
      `gso-segments: ${segments} TCP segments (${retransmitted} retransmitted) in ${tx.packets} skbs, ` +
        `agent ${sum(tcp, (f) => f.packets)} packets, ${sum(egress, (f) => f.bytes)} bytes against tx_bytes ${tx.bytes}`,
    );

    // TSO was on: the sender's TCP sent more segments than the device took skbs.
    expect(segments).toBeGreaterThan(tx.packets);
    // Every segment, exactly: sent once (OutSegs) or again (RetransSegs).
    expect(sum(tcp, (f) => f.packets)).toBe(segments + retransmitted);

    // Bytes: every skb the interface counted, plus the headers each of its further segments repeats.
    // Exact when the device dropped nothing (a dropped skb is in our counts, not in tx_bytes).
    expect(tx.dropped).toBe(0);
    const packets = sum(egress, (f) => f.packets);
    const bytes = sum(egress, (f) => f.bytes);
    expect(bytes).toBeGreaterThan(tx.bytes);
    expect(bytes).toBe(tx.bytes + (packets - tx.packets) * headerBytes);
  } finally {
    server.kill();
    await server.exited;
  }
}, 60000);
