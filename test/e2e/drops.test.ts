/**
 * --enable-drops end to end on a veth pair, each kind of drop checked against
 * the kernel's own count of it:
 * - an nftables input rule (its counter), ingress: NETFILTER_DROP;
 * - UDP to a port with no socket, IPv4 and IPv6 (`nstat` UdpNoPorts,
 *   Udp6NoPorts), ingress: NO_SOCKET;
 * - a tbf qdisc overloaded at egress (`tc -s qdisc` drops), on the flow TC
 *   counted before the qdisc: QDISC_DROP (or whichever QDISC_ reason the
 *   running kernel names);
 * - an nftables output rule: the packets never reach TC, so they come as a
 *   drop-only flow (0 packets), NETFILTER_DROP;
 * - a TCP connection's data dropped by an output rule: the socket's state
 *   (ESTABLISHED) and the segments' flags;
 * - ICMP echo requests dropped by an input rule (keyed with ports 0, as TC
 *   keys ICMP), a fragmented datagram to a closed port (one drop, the
 *   reassembled datagram, on its first fragment's flow), and drops on a
 *   device the agent does not capture on (lo): counted, never a flow.
 * Every figure is exact: packets and IP bytes per flow, summed over the
 * flow's records, equal the kernel's counter.
 */
import { $ } from "bun";
import { expect } from "bun:test";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess } from "../helpers/agent-process.ts";
import { kernelDescribe, testNeeding } from "../helpers/kernel-test.ts";
import { isRoot, VethPair, type Host } from "../helpers/netns.ts";
import { waitFor } from "../helpers/wait-for.ts";

const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
const has = (tool: string) => Bun.which(tool, { PATH }) !== null;
const dropTest = testNeeding({ root: isRoot, nft: has("nft"), nstat: has("nstat"), btf: await Bun.file("/sys/kernel/btf/vmlinux").exists() });

interface FlowSum {
  records: number;
  packets: number;
  bytes: number;
  dropPackets: number;
  dropBytes: number;
  reasons: Set<string>;
  tcpStates: Set<string | undefined>;
  dropTcpFlags: Set<string>;
}

/** The flow's records summed: its packets and bytes, and its drops. */
function sum(flows: FlowJson[], match: (f: FlowJson) => boolean): FlowSum {
  const s: FlowSum = { records: 0, packets: 0, bytes: 0, dropPackets: 0, dropBytes: 0, reasons: new Set(), tcpStates: new Set(), dropTcpFlags: new Set() };
  for (const f of flows) {
    if (!match(f)) continue;
    s.records++;
    s.packets += f.packets;
    s.bytes += f.bytes;
    if (!f.drops) continue;
    s.dropPackets += f.drops.packets;
    s.dropBytes += f.drops.bytes;
    s.reasons.add(f.drops.reason);
    s.tcpStates.add(f.drops.tcpState);
    for (const flag of f.drops.tcpFlags ?? []) s.dropTcpFlags.add(flag);
  }
  return s;
}

async function nft(host: Host, script: string) {
  const proc = Bun.spawn(["ip", "netns", "exec", host.ns, "nft", "-f", "-"], { stdin: new TextEncoder().encode(script), stderr: "pipe", env: { ...process.env, PATH } });
  if ((await proc.exited) !== 0) throw new Error(`nft -f: ${await new Response(proc.stderr).text()}`);
}

/** The counter of the rule whose comment is `comment`. */
async function nftCounter(host: Host, comment: string): Promise<{ packets: number; bytes: number }> {
  const ruleset = JSON.parse(await $`ip netns exec ${host.ns} nft -j list ruleset`.env({ ...process.env, PATH }).text()).nftables as Record<string, any>[];
  for (const item of ruleset) {
    if (item.rule?.comment !== comment) continue;
    const counter = (item.rule.expr as Record<string, any>[]).find((e) => e.counter)?.counter;
    if (counter) return { packets: counter.packets, bytes: counter.bytes };
  }
  throw new Error(`no nft rule with comment ${comment}`);
}

/** nstat's absolute value of a counter in `host` (a fresh namespace starts them at 0). */
async function nstat(host: Host, name: string): Promise<number> {
  const out = await $`ip netns exec ${host.ns} nstat -asz ${name}`.env({ ...process.env, PATH }).text();
  const line = out.split("\n").find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`nstat printed no ${name}: ${out}`);
  return Number(line.split(/\s+/)[1]);
}

/** The root qdisc's drop count (`tc -s qdisc`). */
async function qdiscDrops(host: Host): Promise<number> {
  const qdiscs = JSON.parse(await $`ip netns exec ${host.ns} tc -s -j qdisc show dev ${host.ifname}`.text()) as { kind: string; root?: boolean; drops: number }[];
  const root = qdiscs.find((q) => q.root) ?? qdiscs[0]!;
  return root.drops;
}

/**
 * Sends `count` UDP datagrams of `size` payload bytes from an unconnected
 * socket (so the ICMP errors a closed port sends back fail no send); returns
 * how many sends the kernel refused (an output rule's drop fails sendto with
 * EPERM).
 */
async function sendUdp(host: Host, to: string, port: number, srcPort: number, count: number, size: number): Promise<number> {
  const script = `
import socket, sys, json
to, port, src, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET6 if ":" in to else socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", src))
refused = 0
for i in range(count):
    try:
        s.sendto(b"a" * size, (to, port))
    except PermissionError:
        refused += 1
print(json.dumps({"refused": refused}))
`;
  const out = await $`ip netns exec ${host.ns} /usr/bin/python3 -c ${script} ${to} ${port} ${srcPort} ${count} ${size}`.text();
  return JSON.parse(out).refused as number;
}

const EVICT = ["--cache-active-timeout", "300ms", "--api", "off"];

kernelDescribe("drops with their reason (--enable-drops)", () => {
  dropTest("ingress: an nft input rule and UDP ports with no socket (IPv4, IPv6): exact per flow, named by the kernel", async () => {
    await using pair = await VethPair.create();
    const { a, b } = pair;
    await nft(b, `table inet droptest {\n chain input {\n  type filter hook input priority 0; policy accept;\n  udp dport 7001 counter drop comment "input-7001"\n  icmp type echo-request counter drop comment "input-echo"\n }\n}\n`);
    await pair.settle(3000);
    const flows: FlowJson[] = [];
    await using agent = await AgentProcess.start(["run", "--enable-drops", "--interfaces", b.ifname, ...EVICT], { ns: b.ns, onFlow: (f) => flows.push(f) });
    expect(agent.stderr).not.toContain("drops are off");
    const noPorts4 = await nstat(b, "UdpNoPorts");
    const noPorts6 = await nstat(b, "Udp6NoPorts");

    expect(await sendUdp(a, b.ipv4, 7001, 40101, 500, 100)).toBe(0);
    expect(await sendUdp(a, b.ipv4, 7002, 40102, 300, 200)).toBe(0);
    expect(await sendUdp(a, b.ipv6, 7002, 40103, 200, 50)).toBe(0);
    // 5 pings, each dropped; 3 datagrams of 3,000 bytes (3 fragments each at MTU 1500) to a closed port;
    // 40 to a closed port on B's own lo, which the agent does not capture on.
    await $`ip netns exec ${a.ns} ping -c 5 -i 0.2 -W 0.2 ${b.ipv4}`.quiet().nothrow();
    expect(await sendUdp(a, b.ipv4, 7006, 40106, 3, 3000)).toBe(0);
    expect(await sendUdp(b, "127.0.0.1", 7007, 40107, 40, 10)).toBe(0);

    const nftDropped = await nftCounter(b, "input-7001");
    const echoDropped = await nftCounter(b, "input-echo");
    const noSocket4 = (await nstat(b, "UdpNoPorts")) - noPorts4;
    const noSocket6 = (await nstat(b, "Udp6NoPorts")) - noPorts6;
    const ingress = (port: number, srcPort: number) => (f: FlowJson) => f.interface === b.ifname && f.direction === "ingress" && f.dstPort === port && f.srcPort === srcPort;
    const echo = (f: FlowJson) => f.interface === b.ifname && f.direction === "ingress" && f.protocol === "ICMP" && f.srcAddr === a.ipv4;
    await waitFor("every drop on its flow", () => sum(flows, ingress(7001, 40101)).dropPackets === 500 && sum(flows, ingress(7002, 40102)).dropPackets === 300 && sum(flows, ingress(7002, 40103)).dropPackets === 200 && sum(flows, echo).dropPackets === 5 && sum(flows, ingress(7006, 40106)).dropPackets === 3, {
      state: () => ({ nft: sum(flows, ingress(7001, 40101)), v4: sum(flows, ingress(7002, 40102)), v6: sum(flows, ingress(7002, 40103)), echo: sum(flows, echo), fragmented: sum(flows, ingress(7006, 40106)) }),
    });
    expect(await agent.stop()).toBe(0);

    // The kernel's own counts.
    expect(nftDropped).toEqual({ packets: 500, bytes: 500 * (20 + 8 + 100) });
    expect(noSocket4).toBe(300 + 3 + 40);
    expect(echoDropped.packets).toBe(5);
    expect(noSocket6).toBe(200);

    const filtered = sum(flows, ingress(7001, 40101));
    expect(filtered.packets).toBe(500); // TC saw them before netfilter dropped them
    expect(filtered.dropPackets).toBe(nftDropped.packets);
    expect(filtered.dropBytes).toBe(nftDropped.bytes);
    expect([...filtered.reasons]).toEqual(["NETFILTER_DROP"]);

    const v4 = sum(flows, ingress(7002, 40102));
    expect(v4.packets).toBe(300);
    expect(v4.dropPackets).toBe(300);
    expect(v4.dropBytes).toBe(300 * (20 + 8 + 200));
    expect([...v4.reasons]).toEqual(["NO_SOCKET"]);

    const v6 = sum(flows, ingress(7002, 40103));
    expect(v6.packets).toBe(200);
    expect(v6.dropPackets).toBe(noSocket6);
    expect(v6.dropBytes).toBe(200 * (40 + 8 + 50));
    expect([...v6.reasons]).toEqual(["NO_SOCKET"]);

    // ICMP: keyed like TC's ICMP flow (ports 0), the nft counter's count and bytes.
    const pings = sum(flows, echo);
    expect(pings.packets).toBe(5);
    expect(pings.dropPackets).toBe(echoDropped.packets);
    expect(pings.dropBytes).toBe(echoDropped.bytes);
    expect([...pings.reasons]).toEqual(["NETFILTER_DROP"]);

    // Fragments: TC counted the 9 fragments (the first keyed with ports, the later two without); the stack
    // dropped the 3 reassembled datagrams (what nstat counts) on the first fragment's flow, IP bytes whole.
    const fragmented = sum(flows, ingress(7006, 40106));
    expect(fragmented.packets).toBe(3);
    expect(fragmented.dropPackets).toBe(3);
    expect(fragmented.dropBytes).toBe(3 * (20 + 8 + 3000));
    expect([...fragmented.reasons]).toEqual(["NO_SOCKET"]);

    // lo is not captured on: its 40 drops are in no flow.
    expect(flows.filter((f) => f.interface === "lo")).toEqual([]);

    // Nothing else was dropped on a flow here: no drop without its cause.
    const others = flows.filter((f) => f.drops && !ingress(7001, 40101)(f) && !ingress(7002, 40102)(f) && !ingress(7002, 40103)(f) && !echo(f) && !ingress(7006, 40106)(f));
    expect(others).toEqual([]);
  }, 120000);

  dropTest("egress: a tbf qdisc overloaded, an nft output rule (drop-only flow) and a TCP connection's dropped data (its state)", async () => {
    await using pair = await VethPair.create();
    const { a, b } = pair;
    await $`ip netns exec ${a.ns} tc qdisc replace dev ${a.ifname} root tbf rate 1mbit burst 4kb limit 8kb`.quiet();
    await nft(a, `table inet droptest {\n chain output {\n  type filter hook output priority 0; policy accept;\n  udp dport 7004 counter drop comment "output-7004"\n  tcp dport 7005 tcp flags & psh == psh counter drop comment "output-7005"\n }\n}\n`);
    await pair.settle(3000);
    const flows: FlowJson[] = [];
    await using agent = await AgentProcess.start(["run", "--enable-drops", "--interfaces", a.ifname, ...EVICT], { ns: a.ns, onFlow: (f) => flows.push(f) });
    const tbfBefore = await qdiscDrops(a);
    const rxBefore = pair.counters(b).rxPackets;

    // 1. The qdisc: 2,000 datagrams of 1,000 bytes as fast as the sender goes, through 1 Mbit/s.
    expect(await sendUdp(a, b.ipv4, 7003, 40301, 2000, 1000)).toBe(0);
    await waitFor("the tbf queue to drain", async () => (await $`ip netns exec ${a.ns} tc -s -j qdisc show dev ${a.ifname}`.json())[0].backlog === 0, { everyMs: 200 });
    const tbfDropped = (await qdiscDrops(a)) - tbfBefore;
    const delivered = pair.counters(b).rxPackets - rxBefore;

    // 2. The output rule: sendto fails with EPERM for each, nothing reaches TC.
    const refused = await sendUdp(a, b.ipv4, 7004, 40401, 300, 64);

    // 3. TCP: a connection established, then its data segments (PSH) dropped on output; the stack retransmits.
    const server = Bun.spawn(["ip", "netns", "exec", b.ns, "/usr/bin/python3", "-c", "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',7005))\ns.listen()\nc,_=s.accept()\ntime.sleep(30)"], { stdout: "ignore", stderr: "ignore" });
    try {
      await waitFor("the TCP server", async () => (await $`ip netns exec ${b.ns} ss -Hltn sport = :7005`.text()).trim() !== "");
      const client = await $`ip netns exec ${a.ns} /usr/bin/python3 -c ${"import socket,struct,time\ns=socket.create_connection(('" + b.ipv4 + "',7005))\ns.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\ns.send(b'x'*100)\ntime.sleep(2.5)\nprint(s.getsockname()[1])\ns.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\ns.close()"}`.text();
      const tcpPort = Number(client.trim());
      const tcpDropped = await nftCounter(a, "output-7005");
      const udpRule = await nftCounter(a, "output-7004");

      const egress = (port: number, srcPort: number) => (f: FlowJson) => f.interface === a.ifname && f.direction === "egress" && f.dstPort === port && f.srcPort === srcPort;
      await waitFor("every drop on its flow", () => sum(flows, egress(7003, 40301)).dropPackets === tbfDropped && sum(flows, egress(7004, 40401)).dropPackets === udpRule.packets && sum(flows, egress(7005, tcpPort)).dropPackets === tcpDropped.packets, {
        state: () => ({ tbfDropped, tbf: sum(flows, egress(7003, 40301)), udpRule, out: sum(flows, egress(7004, 40401)), tcpDropped, tcp: sum(flows, egress(7005, tcpPort)) }),
      });
      expect(await agent.stop()).toBe(0);

      // The qdisc: TC counted all 2,000 before the qdisc; the qdisc's drops are the flow's, and the rest arrived.
      expect(tbfDropped).toBeGreaterThan(100);
      const shaped = sum(flows, egress(7003, 40301));
      expect(shaped.packets).toBe(2000);
      expect(shaped.dropPackets).toBe(tbfDropped);
      expect(shaped.dropBytes).toBe(tbfDropped * (20 + 8 + 1000));
      expect(delivered).toBe(2000 - tbfDropped);
      expect(shaped.reasons.size).toBe(1);
      expect([...shaped.reasons][0]).toMatch(/^QDISC_/);

      // The output rule: a drop-only flow.
      expect(refused).toBe(300);
      expect(udpRule).toEqual({ packets: 300, bytes: 300 * (20 + 8 + 64) });
      const dropOnly = sum(flows, egress(7004, 40401));
      expect(dropOnly.packets).toBe(0);
      expect(dropOnly.dropPackets).toBe(300);
      expect(dropOnly.dropBytes).toBe(udpRule.bytes);
      expect([...dropOnly.reasons]).toEqual(["NETFILTER_DROP"]);

      // TCP: the first send and its retransmissions, each dropped; the socket was ESTABLISHED.
      expect(tcpDropped.packets).toBeGreaterThanOrEqual(2);
      const tcp = sum(flows, egress(7005, tcpPort));
      expect(tcp.dropPackets).toBe(tcpDropped.packets);
      expect(tcp.dropBytes).toBe(tcpDropped.bytes);
      expect([...tcp.reasons]).toEqual(["NETFILTER_DROP"]);
      // The client aborts (SO_LINGER 0: a RST, which the rule lets through), so no retransmission comes after the counter was read.
      expect([...tcp.tcpStates]).toEqual(["ESTABLISHED"]);
      expect([...tcp.dropTcpFlags].sort()).toEqual(["ACK", "PSH"]);
      expect(tcp.packets).toBeGreaterThanOrEqual(2); // SYN and ACK went through before the data was dropped
    } finally {
      server.kill();
    }
  }, 120000);
});
