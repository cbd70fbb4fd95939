/**
 * Kernel cost per packet: BPF_PROG_TEST_RUN repeated on one packet, for our
 * program and for bpf/floor.bpf.o (the least a 5-tuple counter can do).
 * The same packet each time: the steady state of a flow, a map hit.
 * Also with FILTER_RULES loaded (--filter): the packet is accepted by one of
 * them after both trie lookups, the common case of an allow list.
 * Also at --sampling 100: 99 packets in 100 leave after one
 * bpf_get_prandom_u32(), before the flow lookup.
 * Also --enable-dns off against the object before DNS was added (PRE_DNS_REV:
 * off must not move), and on: for packets that are not DNS (a port compare)
 * and for a DNS query to port 53 (header read, clock, query-map update), the
 * IPv4 UDP row. All alternated round by round; medians.
 *
 * Printed as one table per feature (featureCosts): every feature off against
 * the object before the enrichments (PRE_DNS_REV: filter rules and sampling
 * are older, and in both objects), then each feature on against all off.
 * RTT (sock_ops) and drops (tp_btf/kfree_skb) add no TC instruction: they run
 * on other hooks, so they have no row here (FEATURE_NOTES).
 */
import { $ } from "bun";
import { FlowObject } from "../src/bpf/flow-object.ts";
import { closeObject, findProgram, loadObject, openObjectFromMemory, programFd, progTestRun } from "../src/bpf/libbpf.ts";
import { defaultFilterAction, parseFilterRules } from "../src/filter/filter-rule.ts";
import { bytes, dnsMessage, ethernet, ipv4, ipv6, tcp, TCP, udp } from "../test/helpers/packets.ts";

const dnsQueryMessage = dnsMessage(0x1234, 0x0100, "www.example.com");
/** A DNS query, 198.18.0.1:40000 → 198.18.0.2:53: with --enable-dns each run reads its header and tries the query map. */
const dnsQuery = bytes(ethernet(0x0800), ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 8 + dnsQueryMessage.length }), udp(40000, 53, dnsQueryMessage.length), dnsQueryMessage);
import { join } from "node:path";

/** The object before the map-in-map rework (per-CPU values, two maps flipped by a global): measured side by side. */
export const BASELINE_REV = "9018d61";
/** The last object without DNS tracking: --enable-dns off is measured against it. */
export const PRE_DNS_REV = "5521297";

/** Ten rules of the kinds a user writes; the measured packets (198.18.0.1 → .2, fd00::1 → ::2, TCP 40000 → 443) are accepted by the 7th and 10th. */
export const FILTER_RULES = [
  "reject cidr=fd00:dead::/32 port=1000-2000",
  "reject cidr=198.19.0.0/16 proto=udp",
  "reject dst=203.0.113.0/24",
  "reject src=192.0.2.0/24 dir=ingress",
  "reject icmp-type=8",
  "reject proto=udp dst-port=53",
  "accept cidr=198.18.0.0/16 proto=tcp port=443",
  "reject cidr=198.18.0.0/15 port=22",
  "accept cidr=198.18.0.0/15",
  "accept cidr=fd00::/8 proto=tcp",
];

/** Rules naming destinations only (and rules without CIDR): one trie lookup a packet (knobs.filter_sides); the measured packets are accepted by the last. */
export const ONE_SIDED_FILTER_RULES = [
  "reject dst=203.0.113.0/24",
  "reject dst=198.19.0.0/16 proto=udp",
  "reject icmp-type=8",
  "reject proto=udp dst-port=53",
  "accept dst=198.18.0.0/15",
  "accept dst=fd00::/8",
];

export interface BpfCost {
  packet: string;
  /** shared values (atomic adds): the default */
  flowNs: number;
  /** shared values, FILTER_RULES loaded (measured alternately with flowNs) */
  flowFilter10Ns: number;
  flowFilterOneSidedNs: number;
  /** shared values at --sampling 100 (the same packet; 1 in 100 reaches the map) */
  flowSampled100Ns: number;
  /** shared values, the object at PRE_DNS_REV (before DNS tracking existed) */
  flowPreDnsNs: number;
  /** shared values, --enable-dns on */
  flowDnsNs: number;
  /** per-CPU values (plain adds) */
  flowPerCpuNs: number;
  /** bpf/flow.bpf.o at BASELINE_REV, same packet, same run */
  baselineNs: number;
  /** floor_count: 5-tuple, 16-byte addresses (a dual-stack key) */
  floorNs: number;
  /** floor_count_v4key: 5-tuple, 4-byte addresses */
  floorV4KeyNs: number;
}

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function measureBpfCost(repeat = 1_000_000, rounds = 5): Promise<BpfCost[]> {
  const floorBytes = new Uint8Array(await Bun.file(join(import.meta.dir, "..", "bpf", "floor.bpf.o")).arrayBuffer());
  const floor = openObjectFromMemory(floorBytes, "floor");
  try {
    loadObject(floor, "floor");
    void floorBytes.byteLength; // read by libbpf until load returned
    const floorFd = programFd(findProgram(floor, "floor_count")!);
    const floorV4Fd = programFd(findProgram(floor, "floor_count_v4key")!);
    using flow = await FlowObject.load({ initialFlows: 4096, values: "shared" });
    using flowPerCpu = await FlowObject.load({ initialFlows: 4096, values: "per-cpu" });
    using flowSampled = await FlowObject.load({ initialFlows: 4096, values: "shared", sampling: 100 });
    const rules = parseFilterRules(FILTER_RULES.map((text) => ({ text, source: { flag: "--filter" } })));
    using flowFiltered = await FlowObject.load({ initialFlows: 4096, values: "shared", filter: { rules, defaultAction: defaultFilterAction(rules) } });
    const oneSided = parseFilterRules(ONE_SIDED_FILTER_RULES.map((text) => ({ text, source: { flag: "--filter" } })));
    using flowOneSided = await FlowObject.load({ initialFlows: 4096, values: "shared", filter: { rules: oneSided, defaultAction: defaultFilterAction(oneSided) } });
    using flowDns = await FlowObject.load({ initialFlows: 4096, values: "shared", dns: { port: 53 } });
    const preDnsBytes = new Uint8Array(await $`git show ${PRE_DNS_REV}:bpf/flow.bpf.o`.cwd(join(import.meta.dir, "..")).arrayBuffer());
    using flowPreDns = await FlowObject.load({ initialFlows: 4096, values: "shared", objectBytes: preDnsBytes });
    const baselineBytes = new Uint8Array(await $`git show ${BASELINE_REV}:bpf/flow.bpf.o`.cwd(join(import.meta.dir, "..")).arrayBuffer());
    const baseline = openObjectFromMemory(baselineBytes, "baseline");
    loadObject(baseline, "baseline");
    void baselineBytes.byteLength;
    const baselineFd = programFd(findProgram(baseline, "flow_ingress")!);
    // The floor parses IPv4 only: compare on an IPv4 packet, report IPv6 for ours alone.
    const packets: [string, Uint8Array][] = [
      ["IPv4 TCP", bytes(ethernet(0x0800), ipv4({ protocol: 6, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 20 }), tcp(40000, 443, TCP.ACK))],
      ["IPv6 TCP", bytes(ethernet(0x86dd), ipv6({ nextHeader: 6, src: "fd00::1", dst: "fd00::2", payloadLength: 20 }), tcp(40000, 443, TCP.ACK))],
      ["IPv4 UDP DNS query", dnsQuery],
    ];
    const out: BpfCost[] = [];
    for (const [name, packet] of packets) {
      const f: number[] = [];
      const ff: number[] = [];
      const f1: number[] = [];
      const pc: number[] = [];
      const fs: number[] = [];
      const b: number[] = [];
      const b4: number[] = [];
      const old: number[] = [];
      const pre: number[] = [];
      const dns: number[] = [];
      for (let i = 0; i < rounds; i++) {
        f.push(progTestRun(flow.ingressFd, packet, repeat).durationNs);
        pre.push(progTestRun(flowPreDns.ingressFd, packet, repeat).durationNs);
        dns.push(progTestRun(flowDns.ingressFd, packet, repeat).durationNs);
        ff.push(progTestRun(flowFiltered.ingressFd, packet, repeat).durationNs);
        f1.push(progTestRun(flowOneSided.ingressFd, packet, repeat).durationNs);
        pc.push(progTestRun(flowPerCpu.ingressFd, packet, repeat).durationNs);
        fs.push(progTestRun(flowSampled.ingressFd, packet, repeat).durationNs);
        old.push(progTestRun(baselineFd, packet, repeat).durationNs);
        b.push(progTestRun(floorFd, packet, repeat).durationNs);
        b4.push(progTestRun(floorV4Fd, packet, repeat).durationNs);
      }
      const ipv4Packet = name.startsWith("IPv4");
      if (dnsQuery === packet && flowDns.dns!.readCounters().queries === 0) throw new Error("bench: the DNS query was not read as one");
      out.push({ packet: name, flowNs: median(f), flowFilter10Ns: median(ff), flowFilterOneSidedNs: median(f1), flowSampled100Ns: median(fs), flowPreDnsNs: median(pre), flowDnsNs: median(dns), flowPerCpuNs: median(pc), baselineNs: median(old), floorNs: ipv4Packet ? median(b) : NaN, floorV4KeyNs: ipv4Packet ? median(b4) : NaN });
    }
    closeObject(baseline);
    // The filtered runs measured accepted packets: counted in flows, not rejected.
    if (flowFiltered.filter!.readCounts().total.packets !== 0) throw new Error("bench: FILTER_RULES rejected the measured packets");
    if (flowOneSided.filter!.readCounts().total.packets !== 0) throw new Error("bench: ONE_SIDED_FILTER_RULES rejected the measured packets");
    return out;
  } finally {
    closeObject(floor);
  }
}

export interface FeatureCostRow {
  feature: string;
  /** The packet measured: one row per feature and packet. */
  packet: string;
  /** ns/packet with the feature on (for "all off": the current object, nothing on). */
  onNs: number;
  /** What it is compared with, and its ns/packet. */
  against: string;
  againstNs: number;
  /** onNs − againstNs. */
  addedNs: number;
}

/** The added ns/packet of each feature, from one measureBpfCost run: every feature off against the pre-feature object, then each on against off. */
export function featureCosts(costs: BpfCost[]): FeatureCostRow[] {
  const rows: FeatureCostRow[] = [];
  const row = (feature: string, c: BpfCost, onNs: number, against: string, againstNs: number) =>
    rows.push({ feature, packet: c.packet, onNs, against, againstNs, addedNs: onNs - againstNs });
  for (const c of costs) row("all features off", c, c.flowNs, `object at ${PRE_DNS_REV} (before DNS, RTT, drops)`, c.flowPreDnsNs);
  for (const c of costs) row("filter: 10 rules, packet accepted", c, c.flowFilter10Ns, "all off", c.flowNs);
  for (const c of costs) row("filter: 6 rules naming destinations only", c, c.flowFilterOneSidedNs, "all off", c.flowNs);
  for (const c of costs) row("sampling 100", c, c.flowSampled100Ns, "all off", c.flowNs);
  for (const c of costs) row(c.packet.includes("DNS") ? "DNS on, a DNS query" : "DNS on, not DNS", c, c.flowDnsNs, "all off", c.flowNs);
  return rows;
}

export const FEATURE_NOTES = [
  "BPF_PROG_TEST_RUN on the TC ingress program, the same packet each time (a known flow); the objects alternate round by round; medians (ns are noisy: compare rows of one run).",
  `"all features off" is the object as built now with no filter rule, --sampling 1, DNS compiled out, against ${PRE_DNS_REV}'s object: it must not move.`,
  "Filter rules and sampling predate that object: it has them too, off (their own off-cost was measured against their predecessors).",
  "--enable-rtt and --enable-drops add nothing to the TC program: RTT runs in a sock_ops program (per TCP RTT sample, not per packet), drops in tp_btf/kfree_skb (per dropped packet): neither is in this table.",
];

if (import.meta.main) {
  const costs = await measureBpfCost();
  console.table(costs);
  console.table(featureCosts(costs));
  for (const note of FEATURE_NOTES) console.log(`- ${note}`);
}
