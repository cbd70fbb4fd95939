/**
 * The top lines: where the flows come from, the host's totals over the 2 s
 * window, the kernel's drop counters and the agent's accounting self-check,
 * and what the view is set to.
 */
import type { KernelCounters } from "../../flow/flow-record.ts";
import type { TrafficTotals } from "../model/top-view.ts";
import type { ViewState } from "../model/view-state.ts";
import { formatInterval, formatRate, siNumber } from "./format-units.ts";
import type { Style } from "./style.ts";
import { fit, lead, spread } from "./text-cell.ts";

export interface HeaderInput {
  host: string;
  /** "local" or "agent 127.0.0.1:9090". */
  source: string;
  interfaces: string[];
  /** The agent's eviction interval from its Status; undefined (shown "?") when an agent does not say. */
  intervalMs: number | undefined;
  counters: KernelCounters;
  totals: TrafficTotals;
  shownRows: number;
  nowMs: number;
  state: ViewState;
  /** The latest problem to show (connection lost, agent warning), if any. */
  message?: string;
  /** The agent's self-check per attached interface and direction (Status accounting); absent or empty: not shown. */
  accounting?: readonly AccountingCheck[];
  /** The largest N of 1-in-N sampled flows shown (FlowTable.sampling); above 1 the figures are estimates, marked "~". */
  sampling?: number;
}

/** What the header reads of one InterfaceAccountingEntry. */
export interface AccountingCheck {
  name: string;
  direction: "ingress" | "egress";
  checkedPackets: number;
  kernelPackets: number;
}

const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;

/**
 * "check rx 100.0% tx 99.7% (eth1)": per direction, the ratio of accounted to
 * kernel-counted packets of the interface farthest from 1, named when it is
 * not 100.0% and there are several; undefined until something was compared.
 */
export function selfCheckText(entries: readonly AccountingCheck[] | undefined): string | undefined {
  const parts: string[] = [];
  for (const [label, direction] of [["rx", "ingress"], ["tx", "egress"]] as const) {
    const measured = (entries ?? []).filter((e) => e.direction === direction && e.kernelPackets > 0);
    if (measured.length === 0) continue;
    let worst = measured[0]!;
    for (const e of measured) if (Math.abs(e.checkedPackets / e.kernelPackets - 1) > Math.abs(worst.checkedPackets / worst.kernelPackets - 1)) worst = e;
    const text = percent(worst.checkedPackets / worst.kernelPackets);
    parts.push(`${label} ${text}${text !== "100.0%" && measured.length > 1 ? ` (${worst.name})` : ""}`);
  }
  return parts.length === 0 ? undefined : `check ${parts.join(" ")}`;
}

export const HEADER_HEIGHT = 4;

const groupingNames = { flow: "flow", "host-pair": "host pair", source: "source", destination: "destination", port: "port", interface: "interface", protocol: "protocol", process: "process", container: "container" };

export function renderHeader(h: HeaderInput, width: number, style: Style): string[] {
  const s = h.state;
  const time = new Date(h.nowMs).toISOString().slice(11, 19);
  const title = `netflow-agent top · ${h.host} · ${h.source}`;
  const line1 = spread(title, time, width, style.title);
  const ifaces = `interfaces: ${h.interfaces.length > 0 ? h.interfaces.join(", ") : "(none yet)"}`;
  const line2 = h.message ? spread(ifaces, h.message, width, undefined, style.warn) : fit(ifaces, width);
  const pps = h.totals.rx.packets[0]! + h.totals.tx.packets[0]!;
  const drops = h.counters.droppedPackets;
  const check = selfCheckText(h.accounting);
  const dropText = `drops ${siNumber(drops)}${h.counters.mapErrors > 0 ? ` map errors ${siNumber(h.counters.mapErrors)}` : ""}${check ? `  ${check}` : ""}`;
  const interval = h.intervalMs === undefined ? "?" : formatInterval(h.intervalMs);
  const sampled = h.sampling !== undefined && h.sampling > 1;
  const est = sampled ? "~" : "";
  const traffic =
    `rx ${est}${formatRate(h.totals.rx.bytes[0]!, s.units)}  tx ${est}${formatRate(h.totals.tx.bytes[0]!, s.units)}  ` +
    `${est}${siNumber(Math.round(pps))} pkt/s  ${sampled ? `sampled 1/${h.sampling} (~: estimated)  ` : ""}flows ${h.totals.flows}  rows ${h.shownRows}  every ${interval}  `;
  const line3 = drops > 0 || h.counters.mapErrors > 0 ? spread(traffic, dropText, width, undefined, style.warn) : fit(traffic + dropText, width);
  const view = [
    `by ${groupingNames[s.grouping]}`,
    `sort ${s.sort}${s.reverse ? " reversed" : ""}`,
    s.filter ? `filter "${s.filter}"` : "no filter",
    s.units,
    s.resolveNames ? "names on" : "names off",
  ].join(" · ");
  const line4 = s.paused ? lead("PAUSED  ", view, width, style.warn) : fit(view, width);
  const lines = [line1, line2, line3, line4];
  return lines;
}
