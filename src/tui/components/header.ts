/**
 * The top lines: where the flows come from, the host's totals over the 2 s
 * window, the kernel's drop counters, and what the view is set to.
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
}

export const HEADER_HEIGHT = 4;

const groupingNames = { flow: "flow", "host-pair": "host pair", source: "source", destination: "destination", port: "port", interface: "interface", protocol: "protocol" };

export function renderHeader(h: HeaderInput, width: number, style: Style): string[] {
  const s = h.state;
  const time = new Date(h.nowMs).toISOString().slice(11, 19);
  const title = `netflow-agent top · ${h.host} · ${h.source}`;
  const line1 = spread(title, time, width, style.title);
  const ifaces = `interfaces: ${h.interfaces.length > 0 ? h.interfaces.join(", ") : "(none yet)"}`;
  const line2 = h.message ? spread(ifaces, h.message, width, undefined, style.warn) : fit(ifaces, width);
  const pps = h.totals.rx.packets[0]! + h.totals.tx.packets[0]!;
  const drops = h.counters.droppedPackets;
  const dropText = `drops ${siNumber(drops)}${h.counters.mapErrors > 0 ? ` map errors ${siNumber(h.counters.mapErrors)}` : ""}`;
  const interval = h.intervalMs === undefined ? "?" : formatInterval(h.intervalMs);
  const traffic =
    `rx ${formatRate(h.totals.rx.bytes[0]!, s.units)}  tx ${formatRate(h.totals.tx.bytes[0]!, s.units)}  ` +
    `${siNumber(Math.round(pps))} pkt/s  flows ${h.totals.flows}  rows ${h.shownRows}  every ${interval}  `;
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
