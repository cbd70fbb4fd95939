/**
 * The selected row in full: identity, exact totals, every window's rate, its
 * DNS, RTT and drops, and for a group its largest flows.
 */
import { tcpFlagNames } from "../../flow/flow-format.ts";
import type { FlowOwner } from "../../flow/flow-record.ts";
import { rcodeName, type FlowDns } from "../../flow/flow-dns.ts";
import { tcpStateName, type FlowDrops } from "../../flow/flow-drops.ts";
import type { FlowRtt } from "../../flow/flow-rtt.ts";
import type { NameOf } from "../model/flow-filter.ts";
import type { FlowStat } from "../model/flow-table.ts";
import type { Row } from "../model/group-flows.ts";
import { RATE_WINDOWS_MS } from "../model/rate-windows.ts";
import type { Units } from "../model/view-state.ts";
import { formatRate, formatVolume, siNumber } from "./format-units.ts";
import type { Style } from "./style.ts";
import { endpointText, groupLabel } from "./table-columns.ts";
import { fit } from "./text-cell.ts";

/** The panel's height (its rule included) unless a row has more to say: detailsHeight. */
export const DETAILS_HEIGHT = 8;
const DETAILS_MAX_HEIGHT = 12;

/**
 * The panel's height for `row`'s detail lines: DETAILS_HEIGHT, taller (up to
 * 12) when a flow's lines need it. A group's list of flows fills what is left
 * and never makes it taller.
 */
export function detailsHeight(row: Row, lines: readonly string[]): number {
  const needed = row.flow ? lines.length : lines.length - row.members.length;
  return Math.min(DETAILS_MAX_HEIGHT, Math.max(DETAILS_HEIGHT, needed + 1));
}

const groupNames: Record<Row["grouping"], string> = {
  flow: "flow", "host-pair": "hosts", source: "source", destination: "dest", port: "port", interface: "iface", protocol: "proto",
  process: "process", container: "container",
};

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/**
 * "iperf3 pid 4242 · socket · cgroup /system.slice/x.scope · container <id>":
 * what is known of the owner and how it was found (a flow's), or of its
 * process or cgroup alone (a group's); undefined without one.
 */
export function ownerText(owner: FlowOwner | undefined, of: "flow" | "process" | "cgroup" = "flow"): string | undefined {
  if (!owner) return undefined;
  if (owner.source === "none") return "none (no local socket: forwarded, or sent by the kernel)";
  const parts: string[] = [];
  if (of !== "cgroup") parts.push(owner.pid !== 0 ? `${owner.comm || "?"} pid ${owner.pid}` : "process unknown");
  if (of === "flow") parts.push(owner.source);
  if (owner.cgroupPath !== undefined) parts.push(`cgroup ${owner.cgroupPath}`);
  else if (owner.cgroupId !== 0) parts.push(`cgroup id ${owner.cgroupId}`);
  if (owner.containerId) parts.push(`container ${owner.containerId}`);
  return parts.join(" · ");
}

/** "40.4 ms", "0.035 ms": a latency in ms, to the µs below 1 ms (loopback). */
export function msText(ns: number): string {
  return `${(ns / 1e6).toFixed(ns < 1e6 ? 3 : 1)} ms`;
}

/** "nosuch.test · NXDOMAIN · 40.4 ms · id 45660": a flow's latest DNS transaction. */
export function dnsText(dns: FlowDns): string {
  return `${dns.name || "(root)"} · ${rcodeName(dns.flags)} · ${msText(dns.latencyNs)} · id ${dns.id}`;
}

/** "latest 12.3 ms · min 10.1 ms · max 15.0 ms": the connection's smoothed RTT over its latest interval with one. */
export function rttText(rtt: FlowRtt): string {
  return `latest ${msText(rtt.latestNs)} · min ${msText(rtt.minNs)} · max ${msText(rtt.maxNs)}`;
}

/** "12 packets · 1.2kB · latest NETFILTER_DROP · TCP SYN_SENT flags SYN": drops and the latest one's reason, socket state and flags. */
export function dropsText(drops: FlowDrops, units: Units): string {
  const parts = [`${drops.packets} packets`, formatVolume(drops.bytes, units), `latest ${drops.reason}`];
  if (drops.tcpState !== 0 || drops.tcpFlags !== 0) {
    const state = drops.tcpState !== 0 ? ` ${tcpStateName(drops.tcpState)}` : "";
    const flags = drops.tcpFlags !== 0 ? ` flags ${tcpFlagNames(drops.tcpFlags).join(",")}` : "";
    parts.push(`TCP${state}${flags}`);
  }
  return parts.join(" · ");
}

function flowLine(f: FlowStat, nameOf: NameOf): string {
  const id = f.id;
  return `${id.interface} ${id.direction === "ingress" ? "in" : "out"} ${id.protocol} ${endpointText(id, "src", nameOf)} → ${endpointText(id, "dst", nameOf)}`;
}

function ratesLine(row: Row, units: Units): string {
  return RATE_WINDOWS_MS.map((w, i) => `${w / 1000}s ${formatRate(row.rates.bytes[i]!, units)} ${siNumber(Math.round(row.rates.packets[i]!))} pkt/s`).join(" · ");
}

export function detailLines(row: Row, units: Units, nameOf: NameOf): string[] {
  const lines: string[] = [];
  const flags = tcpFlagNames(row.tcpFlags).join(",") || "-";
  if (row.flow) {
    const f = row.flow;
    lines.push(`flow     ${flowLine(f, nameOf)}`);
    lines.push(`macs     ${f.id.srcMac} → ${f.id.dstMac}   dscp ${f.dscp}   tcp flags ${flags}`);
    const owner = ownerText(f.id.owner);
    if (owner) lines.push(`owner    ${owner}`);
    if (f.dns) lines.push(`dns      ${dnsText(f.dns)}`);
    if (f.rtt) lines.push(`rtt      ${rttText(f.rtt)}`);
    if (f.drops) lines.push(`drops    ${dropsText(f.drops, units)}`);
    lines.push(`rates    ${ratesLine(row, units)}`);
    lines.push(`total    ${row.bytes} bytes · ${row.packets} packets · first ${clock(f.firstSeenMs)} · last ${clock(f.lastSeenMs)}`);
    for (const addr of [f.id.srcAddr, f.id.dstAddr]) {
      const name = addr ? nameOf(addr) : undefined;
      if (name) lines.push(`name     ${addr} = ${name}`);
    }
    return lines;
  }
  lines.push(`${groupNames[row.grouping].padEnd(8)} ${groupLabel(row, nameOf)}`);
  if (row.grouping === "process" || row.grouping === "container") {
    const owner = ownerText(row.group.owner, row.grouping === "process" ? "process" : "cgroup");
    if (owner) lines.push(`owner    ${owner}`);
  }
  lines.push(`flows    ${row.flows} · protocols ${row.protocols.join(",")} · tcp flags ${flags}`);
  lines.push(`rates    ${ratesLine(row, units)}`);
  lines.push(`total    ${row.bytes} bytes · ${row.packets} packets`);
  const worst: string[] = [];
  if (row.dnsLatencyNs !== undefined) worst.push(`dns latency ${msText(row.dnsLatencyNs)}`);
  if (row.rttNs !== undefined) worst.push(`rtt ${msText(row.rttNs)}`);
  if (worst.length > 0) lines.push(`largest  ${worst.join(" · ")}`);
  if (row.drops) lines.push(`drops    ${dropsText(row.drops, units)}`);
  const largest = [...row.members].sort((a, b) => b.rates.bytes[0]! - a.rates.bytes[0]! || b.bytes - a.bytes);
  for (const f of largest) lines.push(`  ${formatRate(f.rates.bytes[0]!, units).padStart(9)} ${String(f.bytes).padStart(12)} B  ${flowLine(f, nameOf)}`);
  return lines;
}

/** The panel: a rule, then the detail lines (detailLines by default), exactly `height` lines. */
export function renderDetails(row: Row, units: Units, nameOf: NameOf, width: number, height: number, style: Style, details = detailLines(row, units, nameOf)): string[] {
  const rule = "─ details (Esc to close) ";
  const lines = [style.dim(fit(rule + "─".repeat(Math.max(0, width - rule.length)), width))];
  for (const line of details.slice(0, height - 1)) lines.push(fit(line, width));
  while (lines.length < height) lines.push(fit("", width));
  return lines;
}
