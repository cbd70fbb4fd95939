/** FlowRecords and batches built by code for the API and collector tests. */
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowBatch, FlowRecord } from "../../src/flow/flow-record.ts";

export function ipv4(text: string): Uint8Array {
  const addr = new Uint8Array(16);
  addr[10] = 0xff;
  addr[11] = 0xff;
  addr.set(text.split(".").map(Number), 12);
  return addr;
}

/** Full-form IPv6 only ("fd00:0:0:0:0:0:0:1"), enough for fixtures. */
export function ipv6(text: string): Uint8Array {
  const addr = new Uint8Array(16);
  text.split(":").forEach((group, i) => {
    const n = parseInt(group, 16);
    addr[i * 2] = n >> 8;
    addr[i * 2 + 1] = n & 0xff;
  });
  return addr;
}

export function mac(text: string): Uint8Array {
  return Uint8Array.from(text.split(":").map((b) => parseInt(b, 16)));
}

/** A UDP/IPv4 flow 198.18.0.1:40000 → 198.18.0.2:5000 on veth-a, egress; override what a test needs. */
export function udpFlow(overrides: Partial<FlowRecord> = {}): FlowRecord {
  return {
    ifindex: 7,
    interface: "veth-a",
    direction: "egress",
    ethType: 0x0800,
    protocol: 17,
    srcAddr: ipv4("198.18.0.1"),
    dstAddr: ipv4("198.18.0.2"),
    srcPort: 40000,
    dstPort: 5000,
    packets: 10,
    bytes: 1420,
    startMs: 1_764_000_000_250,
    endMs: 1_764_000_001_750,
    tcpFlags: 0,
    dscp: 46,
    icmpType: 0,
    icmpCode: 0,
    srcMac: mac("02:00:00:00:00:0a"),
    dstMac: mac("02:00:00:00:00:0b"),
    flags: 0,
    ...overrides,
  };
}

/**
 * A batch of `records` as columns (FlowColumns.fromRecords). flowsInserted
 * is 0: netflow.v1.KernelCounters has no field for it, so a batch that went
 * over the wire and back has 0 there.
 */
export function batchOf(records: FlowRecord[], evictedAtMs = 1_764_000_002_000): FlowBatch {
  return {
    flows: FlowColumns.fromRecords(records),
    evictedAtMs,
    evictionMs: 1.25,
    counters: { ringbufPackets: 3, droppedPackets: 0, droppedBytes: 0, mapErrors: 1, truncated: 2, flowsInserted: 0 },
  };
}

/** A batch as plain data (rows as records), for toEqual: FlowColumns hold a function and spare bytes. */
export function plainBatch<T extends FlowBatch>({ flows, ...rest }: T) {
  return { ...rest, records: flows.records() };
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` records with every field drawn at random from its whole range
 * (IPv4, IPv6 and ARP; ports, counters to 2^52, flags, sub-ms times), the
 * same for the same seed. One name per ifindex, as the kernel sees it.
 */
export function randomFlows(count: number, seed: number): FlowRecord[] {
  const next = random(seed);
  const int = (max: number) => Math.floor(next() * max);
  const names = ["eth0", "veth-a", "br0", "", "vethé-ü"];
  const out: FlowRecord[] = [];
  for (let i = 0; i < count; i++) {
    const v6 = next() < 0.3;
    const addr = () => (v6 ? new Uint8Array(16).map(() => int(256)) : ipv4(`${int(256)}.${int(256)}.${int(256)}.${int(256)}`));
    const ifindex = int(names.length * 3);
    out.push(
      udpFlow({
        ifindex,
        interface: names[ifindex % names.length]!,
        direction: next() < 0.5 ? "ingress" : "egress",
        ethType: v6 ? 0x86dd : [0x0800, 0x0800, 0x0806][int(3)]!,
        protocol: [6, 17, 1, 58, 132, 47, 0][int(7)]!,
        srcAddr: addr(),
        dstAddr: addr(),
        srcPort: int(65536),
        dstPort: int(65536),
        packets: int(2 ** 40),
        bytes: int(2 ** 52),
        startMs: 1_764_000_000_000 + next() * 1e7,
        endMs: 1_764_000_000_000 + next() * 1e7,
        tcpFlags: int(512),
        dscp: int(64),
        icmpType: int(256),
        icmpCode: int(256),
        srcMac: new Uint8Array(6).map(() => int(256)),
        dstMac: new Uint8Array(6).map(() => int(256)),
        flags: int(4),
      }),
    );
  }
  return out;
}

/**
 * `records` with owners drawn at random from every kind (`none`, `unknown`,
 * a process with or without a command name, cgroup path and container id;
 * ids and cookies to 2^52), the same for the same seed; every fifth record
 * keeps none (attribution off).
 */
export function withOwners(records: FlowRecord[], seed: number): FlowRecord[] {
  const next = random(seed);
  const int = (max: number) => Math.floor(next() * max);
  const sources = ["socket", "connection", "listener", "unknown", "none"] as const;
  const comms = ["iperf3", "nginx", "", "x".repeat(15), "systemd-resolve"];
  return records.map((r, i) => {
    if (i % 5 === 4) return r;
    const source = sources[int(sources.length)]!;
    if (source === "none") return { ...r, owner: { source, pid: 0, comm: "", cgroupId: 0, socketCookie: 0 } };
    const cgroupId = 1 + int(2 ** 52);
    const shift = int(16);
    const container = "0123456789abcdef".repeat(4).slice(shift) + "0".repeat(shift);
    const path = [undefined, "/", "/system.slice/sshd.service", `/system.slice/docker-${container}.scope`][int(4)];
    return {
      ...r,
      owner: {
        source,
        pid: source === "unknown" ? 0 : 1 + int(4_194_304),
        comm: source === "unknown" ? "" : comms[int(comms.length)]!,
        cgroupId,
        socketCookie: 1 + int(2 ** 52),
        ...(path !== undefined ? { cgroupPath: path } : {}),
        ...(path?.includes("docker-") ? { containerId: container } : {}),
      },
    };
  });
}
