/**
 * The top lines: where the flows come from, the host's totals over the 2 s
 * window, the kernel's drop counters, and what the view is set to.
 */
import type { KernelCounters } from "../../flow/flow-record.ts";
import type { TrafficTotals } from "../model/top-view.ts";
import type { ViewState } from "../model/view-state.ts";
import { formatInterval, formatRate, siNumber } from "./format-units.ts";
import type { Style } from "./style.ts";
import { fit, truncate } from "./text-cell.ts";

export interface HeaderInput {
  host: string;
  /** "local" or "agent 127.0.0.1:9090". */
  source: string;
  interfaces: string[];
  /** undefined until known (a remote agent's interval shows once two batches arrived). */
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
  const line1 = style.title(fit(title, Math.max(0, width - 9))) + (width >= 9 ? " " + time : "");
  const ifaces = `interfaces: ${h.interfaces.length > 0 ? h.interfaces.join(", ") : "(none yet)"}`;
  const pps = h.totals.rx.packets[0]! + h.totals.tx.packets[0]!;
  const drops = h.counters.droppedPackets;
  const dropText = `drops ${siNumber(drops)}${h.counters.mapErrors > 0 ? ` map errors ${siNumber(h.counters.mapErrors)}` : ""}`;
  const traffic =
    `rx ${formatRate(h.totals.rx.bytes[0]!, s.units)}  tx ${formatRate(h.totals.tx.bytes[0]!, s.units)}  ` +
    `${siNumber(Math.round(pps))} pkt/s  flows ${h.totals.flows}  rows ${h.shownRows}  every ${h.intervalMs === undefined ? "?" : formatInterval(h.intervalMs)}  `;
  const line3 = drops > 0 || h.counters.mapErrors > 0 ? fit(traffic, Math.max(0, width - dropText.length)) + style.warn(dropText) : fit(traffic + dropText, width);
  const view = [
    `by ${groupingNames[s.grouping]}`,
    `sort ${s.sort}${s.reverse ? " reversed" : ""}`,
    s.filter ? `filter "${s.filter}"` : "no filter",
    s.units,
    s.resolveNames ? "names on" : "names off",
  ].join(" · ");
  const status = s.paused ? "PAUSED  " : "";
  const line4 = status ? style.warn(status) + fit(view, Math.max(0, width - status.length)) : fit(view, width);
  const lines = [line1, fit(ifaces, width), line3, line4];
  if (h.message) {
    const message = truncate(h.message, Math.max(0, width - 2));
    lines[1] = fit(ifaces, Math.max(0, width - message.length - 2)) + "  " + style.warn(message);
  }
  return lines;
}
