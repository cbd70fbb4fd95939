/**
 * One eviction's flows as a table, read in place: the rows are the drained
 * map's own bytes (struct flow_key rows of FLOW_KEY.size bytes, struct
 * flow_metrics rows of FLOW_METRICS.size, see bpf/flow.h) and every field is
 * read through a typed-array view at a fixed offset. No JS object per flow:
 * sinks loop `for (let i = 0; i < flows.count; i++)` and read what they encode.
 *
 * Times are the one derived column: wall-clock ms, converted once per
 * eviction (one clock reading, see clock.ts) into `startMs`/`endMs`.
 *
 * Lifetime: the buffers belong to the evictor and are reused by the next
 * eviction. A sink reads them during export() (or a listener call) and
 * copies what it keeps — encoded bytes, or `record(i)` for the few rows a
 * person looks at.
 */
import { FLOW_KEY, FLOW_METRICS } from "../bpf/flow-layout.ts";
import type { FlowOwner, FlowRecord } from "./flow-record.ts";
import type { FlowDns } from "./flow-dns.ts";
import type { FlowRtt } from "./flow-rtt.ts";
import type { FlowDrops } from "./flow-drops.ts";

export type InterfaceNamer = (ifindex: number) => string;

/** A cgroup's path under the cgroup v2 mount, and the container id it holds, if any. */
export interface CgroupInfo {
  path: string;
  containerId?: string;
}
/** Resolves a cgroup id (src/process/cgroup-paths.ts); undefined once the cgroup is gone. */
export type CgroupNamer = (cgroupId: number) => CgroupInfo | undefined;

/** enum flow_owner_source by number (bpf/flow.h); index 0 (attribution off) has no name. */
export const OWNER_SOURCES = [undefined, "socket", "connection", "listener", "unknown", "none"] as const;
export type OwnerSource = NonNullable<(typeof OWNER_SOURCES)[number]>;
const ownerSourceCode = (name: OwnerSource) => OWNER_SOURCES.indexOf(name);
const commDecoder = new TextDecoder();

const K = FLOW_KEY.fields;
const M = FLOW_METRICS.fields;
const KEY_WORDS = FLOW_KEY.size / 4;
const KEY_HALVES = FLOW_KEY.size / 2;
const METRIC_WORDS = FLOW_METRICS.size / 4;
const METRIC_HALVES = FLOW_METRICS.size / 2;
const TWO_32 = 4294967296;
/** Bytes of a row's command name (TASK_COMM_LEN, its NUL included). */
export const OWNER_COMM_BYTES = M.owner_comm.size;

export class FlowColumns {
  private readonly key32: Uint32Array;
  private readonly key16: Uint16Array;
  private readonly metric32: Uint32Array;
  private readonly metric16: Uint16Array;

  /**
   * `keys`/`metrics`: at least `count` rows each, starting at byte 0 of
   * 4-byte-aligned buffers. `startMs`/`endMs`: wall-clock ms per row.
   */
  constructor(
    /** struct flow_key rows; addresses are read from here (srcAddrAt/dstAddrAt). */
    readonly keys: Uint8Array,
    /** struct flow_metrics rows; MACs are read from here (srcMacAt/dstMacAt). */
    readonly metrics: Uint8Array,
    readonly count: number,
    readonly startMs: Float64Array,
    readonly endMs: Float64Array,
    private readonly names: InterfaceNamer,
    /** A name per row, where one ifindex stands for several (decoded pbflow carries names, no ifindex). */
    private readonly rowNames?: readonly string[],
    /** False for flows decoded from a wire format that does not carry the link-layer header's length: ipBytes is unknown. */
    readonly linkHeaderKnown = true,
    /** Cgroup paths and container ids by cgroup id; none: unknown. */
    private readonly cgroups?: CgroupNamer,
    /** DNS transactions by row (--enable-dns); none: no flow has one. */
    private readonly dnsColumn?: ReadonlyMap<number, FlowDns>,
    /** TCP RTT by row (--enable-rtt); none: no flow has one. */
    private readonly rttColumn?: ReadonlyMap<number, FlowRtt>,
    /** Drops by row (--enable-drops); none: no flow has one. */
    private readonly dropsColumn?: ReadonlyMap<number, FlowDrops>,
  ) {
    if (keys.byteOffset % 4 !== 0 || metrics.byteOffset % 4 !== 0) throw new RangeError("flow rows must be 4-byte aligned");
    if (keys.byteLength < count * FLOW_KEY.size || metrics.byteLength < count * FLOW_METRICS.size || startMs.length < count || endMs.length < count)
      throw new RangeError(`flow rows hold fewer than ${count} flows`);
    this.key32 = new Uint32Array(keys.buffer, keys.byteOffset, Math.floor(keys.byteLength / 4));
    this.key16 = new Uint16Array(keys.buffer, keys.byteOffset, Math.floor(keys.byteLength / 2));
    this.metric32 = new Uint32Array(metrics.buffer, metrics.byteOffset, Math.floor(metrics.byteLength / 4));
    this.metric16 = new Uint16Array(metrics.buffer, metrics.byteOffset, Math.floor(metrics.byteLength / 2));
  }

  static readonly empty = new FlowColumns(new Uint8Array(0), new Uint8Array(0), 0, new Float64Array(0), new Float64Array(0), (i) => `if${i}`);

  ifindex(i: number): number {
    return this.key32[i * KEY_WORDS]!;
  }
  /** The interface's name when the flow was evicted, else "if<index>". */
  interfaceName(i: number): string {
    return this.rowNames ? this.rowNames[i]! : this.names(this.ifindex(i));
  }
  /** 0 ingress, 1 egress (enum flow_direction). */
  direction(i: number): number {
    return this.keys[i * FLOW_KEY.size + K.direction.offset]!;
  }
  /** EtherType after VLAN tags, e.g. 0x0800. */
  ethType(i: number): number {
    return this.key16[i * KEY_HALVES + K.eth_protocol.offset / 2]!;
  }
  /** IP protocol number; 0 when not IP. */
  protocol(i: number): number {
    return this.keys[i * FLOW_KEY.size + K.protocol.offset]!;
  }
  /** Offset in `keys` of the 16-byte source address (IPv6, or IPv4-mapped). */
  srcAddrAt(i: number): number {
    return i * FLOW_KEY.size + K.src_ip.offset;
  }
  dstAddrAt(i: number): number {
    return i * FLOW_KEY.size + K.dst_ip.offset;
  }
  /** Whether the source address is IPv4-mapped (::ffff:a.b.c.d); the destination's is the same kind. */
  isIpv4(i: number): boolean {
    const w = i * KEY_WORDS + K.src_ip.offset / 4;
    return this.key32[w] === 0 && this.key32[w + 1] === 0 && this.key32[w + 2] === 0xffff0000;
  }
  srcPort(i: number): number {
    return this.key16[i * KEY_HALVES + K.src_port.offset / 2]!;
  }
  dstPort(i: number): number {
    return this.key16[i * KEY_HALVES + K.dst_port.offset / 2]!;
  }
  /** Packets on the wire (GSO segments counted one by one). */
  packets(i: number): number {
    const w = i * METRIC_WORDS + M.packets.offset / 4;
    return this.metric32[w]! + this.metric32[w + 1]! * TWO_32;
  }
  bytes(i: number): number {
    const w = i * METRIC_WORDS + M.bytes.offset / 4;
    return this.metric32[w]! + this.metric32[w + 1]! * TWO_32;
  }
  /**
   * IP bytes (header and payload, what IPFIX octetDeltaCount counts): the
   * frame bytes less each packet's link-layer header. Meaningful for IP flows
   * when linkHeaderKnown.
   */
  ipBytes(i: number): number {
    return this.bytes(i) - this.packets(i) * this.metrics[i * FLOW_METRICS.size + M.l2_header_len.offset]!;
  }
  /** Bytes before the IP header of each packet (Ethernet + VLAN tags; 0 on L3 devices). */
  l2HeaderLen(i: number): number {
    return this.metrics[i * FLOW_METRICS.size + M.l2_header_len.offset]!;
  }
  /** 802.1Q VLAN ID of the first packet's outermost tag; 0: untagged. */
  vlanId(i: number): number {
    return this.metric16[i * METRIC_HALVES + M.vlan_id.offset / 2]!;
  }
  /** OR of the TCP flags of every packet (FIN 0x01 … CWR 0x80, NS 0x100). */
  tcpFlags(i: number): number {
    return this.metric32[i * METRIC_WORDS + M.tcp_flags.offset / 4]! & 0x1ff;
  }
  /** enum flow_flag bits, ORed: 1 fragment, 2 truncated. */
  flags(i: number): number {
    return this.metric32[i * METRIC_WORDS + M.flags.offset / 4]!;
  }
  dscp(i: number): number {
    return this.metrics[i * FLOW_METRICS.size + M.dscp.offset]!;
  }
  icmpType(i: number): number {
    return this.metrics[i * FLOW_METRICS.size + M.icmp_type.offset]!;
  }
  icmpCode(i: number): number {
    return this.metrics[i * FLOW_METRICS.size + M.icmp_code.offset]!;
  }
  /** Offset in `metrics` of the 6-byte source MAC (all zero on L3 devices). */
  srcMacAt(i: number): number {
    return i * FLOW_METRICS.size + M.src_mac.offset;
  }
  dstMacAt(i: number): number {
    return i * FLOW_METRICS.size + M.dst_mac.offset;
  }

  /** How the flow's process was found: 0 attribution off, else enum flow_owner_source (OWNER_SOURCES names it). */
  ownerSource(i: number): number {
    return this.metrics[i * FLOW_METRICS.size + M.owner_source.offset]!;
  }
  /** The owning process's pid (tgid); 0 when not known. */
  ownerPid(i: number): number {
    return this.metric32[i * METRIC_WORDS + M.owner_pid.offset / 4]!;
  }
  /** Offset in `metrics` of the command name's OWNER_COMM_BYTES bytes (NUL-terminated when shorter). */
  ownerCommAt(i: number): number {
    return i * FLOW_METRICS.size + M.owner_comm.offset;
  }
  /** Its command name (task comm, ≤ 15 bytes); "" when not known. */
  ownerComm(i: number): string {
    const at = i * FLOW_METRICS.size + M.owner_comm.offset;
    let end = at;
    while (end < at + M.owner_comm.size && this.metrics[end] !== 0) end++;
    return end === at ? "" : commDecoder.decode(this.metrics.subarray(at, end));
  }
  /** The socket's cookie (SO_COOKIE, `ss -e` sk:); 0 when none. */
  socketCookie(i: number): number {
    const w = i * METRIC_WORDS + M.socket_cookie.offset / 4;
    return this.metric32[w]! + this.metric32[w + 1]! * TWO_32;
  }
  /** The owner's cgroup v2 id (its directory's inode); 0 when not known. */
  cgroupId(i: number): number {
    const w = i * METRIC_WORDS + M.cgroup_id.offset / 4;
    return this.metric32[w]! + this.metric32[w + 1]! * TWO_32;
  }
  /** Path and container id of the flow's cgroup, where known. */
  cgroup(i: number): CgroupInfo | undefined {
    const id = this.cgroupId(i);
    return id === 0 ? undefined : this.cgroups?.(id);
  }
  /** The owner as an object; undefined when attribution was off. */
  owner(i: number): FlowOwner | undefined {
    const source = OWNER_SOURCES[this.ownerSource(i)];
    if (source === undefined) return undefined;
    const owner: FlowOwner = { source, pid: this.ownerPid(i), comm: this.ownerComm(i), cgroupId: this.cgroupId(i), socketCookie: this.socketCookie(i) };
    const cgroup = this.cgroup(i);
    if (cgroup) {
      owner.cgroupPath = cgroup.path;
      if (cgroup.containerId) owner.containerId = cgroup.containerId;
    }
    return owner;
  }

  /**
   * N of the 1-in-N sampling the flow was counted at (--sampling, or its
   * filter rule's sample=N): packets and bytes count the sampled packets,
   * so about N times as many crossed the wire. 1: every packet.
   */
  sampling(i: number): number {
    return this.metric32[i * METRIC_WORDS + M.sampling.offset / 4]! || 1;
  }

  /** The flow's last DNS transaction (--enable-dns: a response it carried, matched to its query). */
  dns(i: number): FlowDns | undefined {
    return this.dnsColumn?.get(i);
  }

  /** The smoothed RTT of the flow's TCP connection over the interval (--enable-rtt: a connection of a local socket). */
  rtt(i: number): FlowRtt | undefined {
    return this.rttColumn?.get(i);
  }

  /** What the kernel dropped of the flow over the interval, and why (--enable-drops). A drop-only flow has 0 packets. */
  drops(i: number): FlowDrops | undefined {
    return this.dropsColumn?.get(i);
  }

  /** Row i as an object: for the rows a person looks at and for tests, never on the hot path. */
  record(i: number): FlowRecord {
    const src = this.srcAddrAt(i);
    const dst = this.dstAddrAt(i);
    const srcMac = this.srcMacAt(i);
    const dstMac = this.dstMacAt(i);
    return {
      ifindex: this.ifindex(i),
      interface: this.interfaceName(i),
      direction: this.direction(i) === 1 ? "egress" : "ingress",
      ethType: this.ethType(i),
      protocol: this.protocol(i),
      srcAddr: this.keys.slice(src, src + 16),
      dstAddr: this.keys.slice(dst, dst + 16),
      srcPort: this.srcPort(i),
      dstPort: this.dstPort(i),
      packets: this.packets(i),
      bytes: this.bytes(i),
      startMs: this.startMs[i]!,
      endMs: this.endMs[i]!,
      tcpFlags: this.tcpFlags(i),
      dscp: this.dscp(i),
      icmpType: this.icmpType(i),
      icmpCode: this.icmpCode(i),
      srcMac: this.metrics.slice(srcMac, srcMac + 6),
      dstMac: this.metrics.slice(dstMac, dstMac + 6),
      flags: this.flags(i),
      ...(this.vlanId(i) !== 0 ? { vlanId: this.vlanId(i) } : {}),
      ...(this.linkHeaderKnown ? { l2HeaderLen: this.l2HeaderLen(i) } : {}),
      ...(this.ownerSource(i) !== 0 ? { owner: this.owner(i) } : {}),
      ...(this.sampling(i) > 1 ? { sampling: this.sampling(i) } : {}),
      ...(this.dnsColumn?.get(i) ? { dns: this.dnsColumn.get(i) } : {}),
      ...(this.rttColumn?.get(i) ? { rtt: this.rttColumn.get(i) } : {}),
      ...(this.dropsColumn?.get(i) ? { drops: this.dropsColumn.get(i) } : {}),
    };
  }

  /** Every row as an object (tests, the collector's ledger, `top`'s model). */
  records(): FlowRecord[] {
    const out = new Array<FlowRecord>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.record(i);
    return out;
  }

  /**
   * The same table built from objects: for what arrives decoded (the
   * collector, `top --connect`) and for tests. Times are kept exactly.
   */
  static fromRecords(records: readonly FlowRecord[]): FlowColumns {
    const n = records.length;
    const keys = new Uint8Array(n * FLOW_KEY.size);
    const metrics = new Uint8Array(n * FLOW_METRICS.size);
    const kv = new DataView(keys.buffer);
    const mv = new DataView(metrics.buffer);
    const startMs = new Float64Array(n);
    const endMs = new Float64Array(n);
    const names = new Map<number, string>();
    const cgroups = new Map<number, CgroupInfo>();
    const dns = new Map<number, FlowDns>();
    const rtt = new Map<number, FlowRtt>();
    const drops = new Map<number, FlowDrops>();
    let ambiguous = false;
    let linkHeaderKnown = true;
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      const k = i * FLOW_KEY.size;
      const m = i * FLOW_METRICS.size;
      kv.setUint32(k + K.ifindex.offset, r.ifindex, true);
      kv.setUint16(k + K.eth_protocol.offset, r.ethType, true);
      keys[k + K.direction.offset] = r.direction === "egress" ? 1 : 0;
      keys[k + K.protocol.offset] = r.protocol;
      keys.set(r.srcAddr.subarray(0, 16), k + K.src_ip.offset);
      keys.set(r.dstAddr.subarray(0, 16), k + K.dst_ip.offset);
      kv.setUint16(k + K.src_port.offset, r.srcPort, true);
      kv.setUint16(k + K.dst_port.offset, r.dstPort, true);
      mv.setBigUint64(m + M.packets.offset, BigInt(r.packets), true);
      mv.setBigUint64(m + M.bytes.offset, BigInt(r.bytes), true);
      mv.setUint32(m + M.tcp_flags.offset, r.tcpFlags, true);
      mv.setUint32(m + M.flags.offset, r.flags, true);
      metrics[m + M.dscp.offset] = r.dscp;
      metrics[m + M.icmp_type.offset] = r.icmpType;
      metrics[m + M.icmp_code.offset] = r.icmpCode;
      metrics.set(r.srcMac.subarray(0, 6), m + M.src_mac.offset);
      metrics.set(r.dstMac.subarray(0, 6), m + M.dst_mac.offset);
      mv.setUint16(m + M.vlan_id.offset, r.vlanId ?? 0, true);
      mv.setUint32(m + M.sampling.offset, r.sampling ?? 1, true);
      if (r.l2HeaderLen === undefined) linkHeaderKnown = false;
      else metrics[m + M.l2_header_len.offset] = r.l2HeaderLen;
      const o = r.owner;
      if (o) {
        metrics[m + M.owner_source.offset] = ownerSourceCode(o.source);
        mv.setUint32(m + M.owner_pid.offset, o.pid, true);
        mv.setBigUint64(m + M.socket_cookie.offset, BigInt(o.socketCookie), true);
        mv.setBigUint64(m + M.cgroup_id.offset, BigInt(o.cgroupId), true);
        metrics.set(new TextEncoder().encode(o.comm).subarray(0, M.owner_comm.size - 1), m + M.owner_comm.offset);
        if (o.cgroupPath !== undefined) cgroups.set(o.cgroupId, { path: o.cgroupPath, ...(o.containerId ? { containerId: o.containerId } : {}) });
      }
      if (r.dns) dns.set(i, r.dns);
      if (r.rtt) rtt.set(i, r.rtt);
      if (r.drops) drops.set(i, r.drops);
      startMs[i] = r.startMs;
      endMs[i] = r.endMs;
      const known = names.get(r.ifindex);
      if (known === undefined) names.set(r.ifindex, r.interface);
      else if (known !== r.interface) ambiguous = true;
    }
    const rowNames = ambiguous ? records.map((r) => r.interface) : undefined;
    return new FlowColumns(keys, metrics, n, startMs, endMs, (ifindex) => names.get(ifindex) ?? `if${ifindex}`, rowNames, linkHeaderKnown, (id) => cgroups.get(id), dns.size ? dns : undefined, rtt.size ? rtt : undefined, drops.size ? drops : undefined);
  }
}
