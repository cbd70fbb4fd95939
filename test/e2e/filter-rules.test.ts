/**
 * Filter rules end to end: the agent on a veth pair with a rule rejecting
 * one UDP port. The accepted port's flows count exactly what was sent; the
 * rejected port's make no flow at all (yet are delivered: a filter changes
 * what is counted, never a packet's fate), and the agent's exit line says how
 * many packets the rule kept out.
 */
import { expect } from "bun:test";
import { AgentProcess } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";

kernelTest("UDP to two ports, one rejected by a rule: the accepted flows exact, the rejected ones absent", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  const args = ["run", "--api", "off", "--cache-active-timeout", "1s", "--interfaces", a.ifname, "--filter", "reject proto=udp dst-port=7002", "--filter", "accept"];
  await using agent = await AgentProcess.start(args, { ns: a.ns });
  const sent = { v4: 120, v6: 80 };
  const receivers = await Promise.all([
    receiveUdp(b, b.ipv4, 7001, sent.v4),
    receiveUdp(b, b.ipv4, 7002, sent.v4),
    receiveUdp(b, b.ipv6, 7001, sent.v6),
    receiveUdp(b, b.ipv6, 7002, sent.v6),
  ]);
  // Counted (or rejected) at TC egress inside each send call: all of it is decided when sendUdp returns.
  expect(await sendUdp(a, b.ipv4, 7001, 41001, sent.v4, 200)).toBe(sent.v4);
  expect(await sendUdp(a, b.ipv4, 7002, 41002, sent.v4, 200)).toBe(sent.v4);
  expect(await sendUdp(a, b.ipv6, 7001, 41003, sent.v6, 300)).toBe(sent.v6);
  expect(await sendUdp(a, b.ipv6, 7002, 41004, sent.v6, 300)).toBe(sent.v6);
  // The filter never drops a packet: the rejected port's datagrams all arrived.
  expect(await Promise.all(receivers.map((r) => r.done()))).toEqual([sent.v4, sent.v4, sent.v6, sent.v6]);
  expect(await agent.stop()).toBe(0);

  const udp = agent.flows.filter((f) => f.interface === a.ifname && f.protocol === "UDP");
  const total = (port: number, etherType: string) => {
    const flows = udp.filter((f) => f.dstPort === port && f.etherType === etherType);
    return { packets: flows.reduce((s, f) => s + f.packets, 0), bytes: flows.reduce((s, f) => s + f.bytes, 0) };
  };
  expect(total(7001, "IPv4")).toEqual({ packets: sent.v4, bytes: sent.v4 * udpFrameBytes(200, false) });
  expect(total(7001, "IPv6")).toEqual({ packets: sent.v6, bytes: sent.v6 * udpFrameBytes(300, true) });
  expect(udp.filter((f) => f.dstPort === 7002 || f.srcPort === 7002)).toEqual([]);
  // Exactly the rejected datagrams, by the rule that rejected them.
  const rejectedBytes = sent.v4 * udpFrameBytes(200, false) + sent.v6 * udpFrameBytes(300, true);
  expect(agent.stderr).toContain(
    `filter rejected ${sent.v4 + sent.v6} packets (${rejectedBytes} bytes), not in any flow: #1 reject proto=udp dst-port=7002: ${sent.v4 + sent.v6}; default (reject): 0`,
  );
}, 60_000);
