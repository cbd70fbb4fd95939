/**
 * Rows of the table: one per flow, or flows summed per host pair, source,
 * destination, port, interface, protocol, process (pid and command name) or
 * container (its id, else the cgroup path: --enable-process). Rates and totals add up, so a
 * group's figures are the sums of its flows'. Group keys use addresses, never
 * resolved names, so a row keeps its place while names arrive. The
 * enrichments are the worst of the group's: its largest DNS latency and
 * RTT; its drops are summed, with the latest drop's reason.
 */
import { addRates, zeroRates, type WindowRates } from "./rate-windows.ts";
import type { FlowOwner } from "../../flow/flow-record.ts";
import { rttOf, type DropTotals, type FlowStat } from "./flow-table.ts";

export const GROUPINGS = ["flow", "host-pair", "source", "destination", "port", "interface", "protocol", "process", "container"] as const;
export type Grouping = (typeof GROUPINGS)[number];

/** What the rows of one grouping have in common (the fields that grouping keeps). */
export interface GroupFields {
  /** Host pair: the two addresses in text order, so both directions fall in one row. */
  addrs?: [string, string];
  addr?: string;
  /** Port grouping: protocol and service port (the lower of the two ports). */
  protocol?: string;
  port?: number;
  interface?: string;
  /** Process and container groupings: the owner of the group's first flow (pid, comm, cgroup and container are the group's), or undefined when its flows have none. */
  owner?: FlowOwner;
}

export interface Row {
  key: string;
  grouping: Grouping;
  /** The flow itself when grouping by flow. */
  flow?: FlowStat;
  group: GroupFields;
  flows: number;
  bytes: number;
  packets: number;
  tcpFlags: number;
  /** Protocol names in the row, sorted. */
  protocols: string[];
  rates: WindowRates;
  members: FlowStat[];
  /** The largest latency of its flows' latest DNS transactions, ns; absent when none has one. */
  dnsLatencyNs?: number;
  /** The largest RTT of its flows (each flow's RTT maximum in its latest interval with one), ns; absent when none has one. */
  rttNs?: number;
  /** Its flows' drops summed; reason, TCP state and flags the latest drop's. Absent when none dropped. */
  drops?: DropTotals;
}

function addDrops(into: DropTotals | undefined, from: DropTotals): DropTotals {
  if (!into) return { ...from };
  const latest = from.lastMs > into.lastMs ? from : into;
  return { ...latest, packets: into.packets + from.packets, bytes: into.bytes + from.bytes };
}

/** The service port of a flow: the lower of its two ports (ephemeral ports are high), 0 when it has none. */
export function servicePort(f: FlowStat): number {
  const { srcPort, dstPort } = f.id;
  if (srcPort === 0 || dstPort === 0) return Math.max(srcPort, dstPort);
  return Math.min(srcPort, dstPort);
}

/**
 * A process group's key: pid and command name (a pid that exec'd another
 * program is two rows); flows without a process fall in one row per reason.
 */
export function processKey(owner: FlowOwner | undefined): string {
  if (!owner) return "-";
  return owner.pid !== 0 ? `${owner.pid} ${owner.comm}` : `(${owner.source})`;
}

/** A container group's key: the container id, else the cgroup path, else why there is none. */
export function containerKey(owner: FlowOwner | undefined): string {
  if (!owner) return "-";
  if (owner.containerId) return `container ${owner.containerId}`;
  if (owner.cgroupPath !== undefined) return `cgroup ${owner.cgroupPath}`;
  return owner.source === "none" ? "(none)" : "(cgroup unknown)";
}

function groupOf(f: FlowStat, grouping: Grouping): { key: string; group: GroupFields } {
  const id = f.id;
  switch (grouping) {
    case "flow":
      return { key: id.key, group: {} };
    case "host-pair": {
      const addrs = [id.srcAddr, id.dstAddr].sort() as [string, string];
      return { key: addrs.join(" "), group: { addrs } };
    }
    case "source":
      return { key: id.srcAddr, group: { addr: id.srcAddr } };
    case "destination":
      return { key: id.dstAddr, group: { addr: id.dstAddr } };
    case "port": {
      const port = servicePort(f);
      return { key: `${id.protocol}/${port}`, group: { protocol: id.protocol, port } };
    }
    case "interface":
      return { key: id.interface, group: { interface: id.interface } };
    case "protocol":
      return { key: id.protocol, group: { protocol: id.protocol } };
    case "process":
      return { key: processKey(id.owner), group: { owner: id.owner } };
    case "container":
      return { key: containerKey(id.owner), group: { owner: id.owner } };
  }
}

export function groupFlows(stats: FlowStat[], grouping: Grouping): Row[] {
  const rows = new Map<string, Row>();
  for (const f of stats) {
    const { key, group } = groupOf(f, grouping);
    let row = rows.get(key);
    if (!row) {
      row = { key, grouping, group, flows: 0, bytes: 0, packets: 0, tcpFlags: 0, protocols: [], rates: zeroRates(), members: [] };
      if (grouping === "flow") row.flow = f;
      rows.set(key, row);
    }
    row.flows++;
    row.bytes += f.bytes;
    row.packets += f.packets;
    row.tcpFlags |= f.tcpFlags;
    if (!row.protocols.includes(f.id.protocol)) row.protocols.push(f.id.protocol);
    addRates(row.rates, f.rates);
    row.members.push(f);
    if (f.dns) row.dnsLatencyNs = Math.max(row.dnsLatencyNs ?? 0, f.dns.latencyNs);
    const rtt = rttOf(f);
    if (rtt !== undefined) row.rttNs = Math.max(row.rttNs ?? 0, rtt);
    if (f.drops) row.drops = addDrops(row.drops, f.drops);
  }
  for (const row of rows.values()) row.protocols.sort();
  return [...rows.values()];
}
