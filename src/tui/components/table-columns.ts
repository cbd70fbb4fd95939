/**
 * The table's columns for a grouping: title, alignment, cell text, and how
 * wide: fixed, or sized to content (addresses, names) within a range.
 *
 * DNS, RTT and DROPS appear only while a row has one (or the table is sorted
 * by it): DNS the latest transaction's latency, RTT the largest smoothed RTT
 * of the latest interval with one, DROPS the packets dropped since the flow
 * was first seen (a group: the largest latency and RTT, the drops summed).
 * A row without one leaves the cell blank.
 */
import type { FlowOwner } from "../../flow/flow-record.ts";
import type { NameOf } from "../model/flow-filter.ts";
import type { FlowIdentity } from "../model/flow-table.ts";
import type { Grouping, Row } from "../model/group-flows.ts";
import { ENRICHMENT_COLUMNS, type SortColumn } from "../model/sort-rows.ts";
import type { Units } from "../model/view-state.ts";
import { formatLatency, formatRate, formatVolume, siNumber } from "./format-units.ts";

export interface CellContext {
  units: Units;
  nameOf: NameOf;
}

export interface TableColumn {
  id: SortColumn;
  title: string;
  align: "left" | "right";
  /** Fixed width, or [min, max] sized to content. */
  width: number | [number, number];
  /** Columns hidden when the screen is too narrow, lowest first; undefined: always shown. */
  dropOrder?: number;
  text(row: Row, ctx: CellContext): string;
}

/** TCP flags as letters in header-bit order (tcpdump's, with A for ACK): "SA", "FPA". */
const flagLetters: [number, string][] = [
  [0x01, "F"], [0x02, "S"], [0x04, "R"], [0x08, "P"], [0x10, "A"], [0x20, "U"], [0x40, "E"], [0x80, "C"], [0x100, "N"],
];

export function tcpFlagLetters(flags: number): string {
  return flagLetters.filter(([bit]) => flags & bit).map(([, letter]) => letter).join("");
}

/** An address as shown: its resolved name when there is one; "-" for none (not IP, unreadable, or ::). */
export function hostText(addr: string, nameOf: NameOf): string {
  if (!addr) return "-";
  return nameOf(addr) ?? addr;
}

export function endpointText(id: FlowIdentity, side: "src" | "dst", nameOf: NameOf): string {
  const addr = side === "src" ? id.srcAddr : id.dstAddr;
  const port = side === "src" ? id.srcPort : id.dstPort;
  if (!addr) return side === "src" ? id.srcMac : id.dstMac;
  const name = nameOf(addr);
  const host = name ?? (addr.includes(":") && port !== 0 ? `[${addr}]` : addr);
  return port === 0 ? host : `${host}:${port}`;
}

/** A process as a row names it: "iperf3 (4242)"; without a process, why. */
export function processLabel(owner: FlowOwner | undefined): string {
  if (!owner) return "(no attribution)";
  if (owner.pid !== 0) return `${owner.comm || "?"} (${owner.pid})`;
  return owner.source === "none" ? "(no local socket)" : "(process unknown)";
}

/** A container as a row names it: its id's first 12 digits (as docker ps), else the cgroup path, else why neither. */
export function containerLabel(owner: FlowOwner | undefined): string {
  if (!owner) return "(no attribution)";
  if (owner.containerId) return owner.containerId.slice(0, 12);
  if (owner.cgroupPath !== undefined) return owner.cgroupPath;
  return owner.source === "none" ? "(no local socket)" : "(cgroup unknown)";
}

export function groupLabel(row: Row, nameOf: NameOf): string {
  const g = row.group;
  switch (row.grouping) {
    case "host-pair": return `${hostText(g.addrs![0], nameOf)} ↔ ${hostText(g.addrs![1], nameOf)}`;
    case "source":
    case "destination": return hostText(g.addr!, nameOf);
    case "port": return g.port === 0 ? `${g.protocol}` : `${g.protocol}/${g.port}`;
    case "interface": return g.interface!;
    case "protocol": return g.protocol!;
    case "process": return processLabel(g.owner);
    case "container": return containerLabel(g.owner);
    case "flow": return row.key;
  }
}

const groupTitles: Record<Grouping, string> = {
  flow: "FLOW", "host-pair": "HOST PAIR", source: "SOURCE", destination: "DESTINATION", port: "PORT", interface: "INTERFACE", protocol: "PROTOCOL",
  process: "PROCESS", container: "CONTAINER",
};

const figures: TableColumn[] = [
  { id: "2s", title: "2s", align: "right", width: 9, text: (r, c) => formatRate(r.rates.bytes[0]!, c.units) },
  { id: "10s", title: "10s", align: "right", width: 9, dropOrder: 3, text: (r, c) => formatRate(r.rates.bytes[1]!, c.units) },
  { id: "40s", title: "40s", align: "right", width: 9, dropOrder: 2, text: (r, c) => formatRate(r.rates.bytes[2]!, c.units) },
  { id: "bytes", title: "TOTAL", align: "right", width: 7, text: (r, c) => formatVolume(r.bytes, c.units) },
  { id: "packets", title: "PKTS", align: "right", width: 6, dropOrder: 4, text: (r) => siNumber(r.packets) },
  { id: "dns", title: "DNS", align: "right", width: 5, dropOrder: 6, text: (r) => (r.dnsLatencyNs === undefined ? "" : formatLatency(r.dnsLatencyNs)) },
  { id: "rtt", title: "RTT", align: "right", width: 5, dropOrder: 7, text: (r) => (r.rttNs === undefined ? "" : formatLatency(r.rttNs)) },
  { id: "drops", title: "DROPS", align: "right", width: 6, dropOrder: 8, text: (r) => (r.drops ? siNumber(r.drops.packets) : "") },
  { id: "flags", title: "FLAGS", align: "left", width: [5, 9], dropOrder: 1, text: (r) => tcpFlagLetters(r.tcpFlags) },
];

const flowColumns: TableColumn[] = [
  { id: "interface", title: "IFACE", align: "left", width: [5, 15], text: (r) => r.flow!.id.interface },
  { id: "direction", title: "DIR", align: "left", width: 3, dropOrder: 5, text: (r) => (r.flow!.id.direction === "ingress" ? "in" : "out") },
  { id: "protocol", title: "PROTO", align: "left", width: [5, 10], text: (r) => r.flow!.id.protocol },
  { id: "source", title: "SOURCE", align: "left", width: [12, 47], text: (r, c) => endpointText(r.flow!.id, "src", c.nameOf) },
  { id: "destination", title: "DESTINATION", align: "left", width: [12, 47], text: (r, c) => endpointText(r.flow!.id, "dst", c.nameOf) },
  ...figures,
];

/** The enrichment columns to show for these rows: those a row has a figure in, and the sort column. */
export function enrichmentsIn(rows: readonly Row[], sort: SortColumn): Set<SortColumn> {
  const shown = new Set<SortColumn>(ENRICHMENT_COLUMNS.includes(sort) ? [sort] : []);
  for (const r of rows) {
    if (r.dnsLatencyNs !== undefined) shown.add("dns");
    if (r.rttNs !== undefined) shown.add("rtt");
    if (r.drops) shown.add("drops");
    if (shown.size === ENRICHMENT_COLUMNS.length) break;
  }
  return shown;
}

/** The columns of a grouping, with the enrichment columns in `enrichments` (none by default). */
export function columnsOf(grouping: Grouping, enrichments: ReadonlySet<SortColumn> = new Set()): TableColumn[] {
  const shown = (c: TableColumn) => !ENRICHMENT_COLUMNS.includes(c.id) || enrichments.has(c.id);
  if (grouping === "flow") return flowColumns.filter(shown);
  const columns: TableColumn[] = [
    { id: "group", title: groupTitles[grouping], align: "left", width: [12, 80], text: (r, c) => groupLabel(r, c.nameOf) },
    { id: "flows", title: "FLOWS", align: "right", width: 5, text: (r) => String(r.flows) },
    { id: "protocol", title: "PROTO", align: "left", width: [5, 16], dropOrder: 5, text: (r) => r.protocols.join(",") },
    ...figures,
  ];
  return columns.filter(shown);
}
