/**
 * From the flow table's stats and the view state to what the screen shows:
 * filtered, grouped, sorted rows and the host's totals. Pure.
 */
import { filterFlows, type NameOf } from "./flow-filter.ts";
import type { FlowStat } from "./flow-table.ts";
import { groupFlows, type Row } from "./group-flows.ts";
import { addRates, zeroRates, type WindowRates } from "./rate-windows.ts";
import { sortRows } from "./sort-rows.ts";
import type { ViewState } from "./view-state.ts";

export interface TrafficTotals {
  /** Received: flows seen at ingress. */
  rx: WindowRates;
  /** Sent: flows seen at egress. */
  tx: WindowRates;
  flows: number;
}

export function deriveRows(stats: FlowStat[], state: ViewState, nameOf: NameOf): Row[] {
  const filtered = filterFlows(stats, state.filter, state.resolveNames ? nameOf : () => undefined);
  return sortRows(groupFlows(filtered, state.grouping), state.sort, state.reverse);
}

/** The host's traffic, every flow counted (the filter does not apply). */
export function trafficTotals(stats: FlowStat[]): TrafficTotals {
  const totals: TrafficTotals = { rx: zeroRates(), tx: zeroRates(), flows: stats.length };
  for (const f of stats) addRates(f.id.direction === "ingress" ? totals.rx : totals.tx, f.rates);
  return totals;
}
