/**
 * Sorting by any column. Numbers sort largest first and text A→Z unless
 * reversed; ties fall back to the row key so the order never flickers
 * between frames. Rows without an enrichment (no DNS, RTT or drops) sort
 * after those with one, either way.
 */
import type { Grouping, Row } from "./group-flows.ts";

export const SORT_COLUMNS = [
  "interface", "direction", "protocol", "source", "destination", "group", "flows",
  "2s", "10s", "40s", "bytes", "packets", "dns", "rtt", "drops", "flags",
] as const;
export type SortColumn = (typeof SORT_COLUMNS)[number];

const FLOW_COLUMNS: SortColumn[] = ["interface", "direction", "protocol", "source", "destination", "2s", "10s", "40s", "bytes", "packets", "dns", "rtt", "drops", "flags"];
const GROUP_COLUMNS: SortColumn[] = ["group", "flows", "protocol", "2s", "10s", "40s", "bytes", "packets", "dns", "rtt", "drops", "flags"];

/** The columns a row may lack (shown when a row in view has them, or when sorted by). */
export const ENRICHMENT_COLUMNS: readonly SortColumn[] = ["dns", "rtt", "drops"];

/** The columns shown for a grouping, left to right (the order `<` and `>` walk). */
export function columnsFor(grouping: Grouping): SortColumn[] {
  return grouping === "flow" ? FLOW_COLUMNS : GROUP_COLUMNS;
}

/** The column to sort by after switching grouping: the same one when shown, else its nearest equivalent. */
export function sortColumnFor(grouping: Grouping, column: SortColumn): SortColumn {
  if (columnsFor(grouping).includes(column)) return column;
  if (grouping === "flow") return column === "group" ? "source" : "2s";
  return "group";
}

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

/** `none`: the row has no such figure (no DNS, RTT or drops). */
type Value = { text: string } | { number: number } | { none: true };

const figure = (n: number | undefined): Value => (n === undefined ? { none: true } : { number: n });

function valueOf(row: Row, column: SortColumn): Value {
  const f = row.flow?.id;
  switch (column) {
    case "interface": return { text: f?.interface ?? row.group.interface ?? "" };
    case "direction": return { text: f?.direction ?? "" };
    case "protocol": return { text: f?.protocol ?? row.protocols.join(",") };
    case "source": return { text: f?.srcAddr ?? "" };
    case "destination": return { text: f?.dstAddr ?? "" };
    case "group": return { text: row.key };
    case "flows": return { number: row.flows };
    case "2s": return { number: row.rates.bytes[0]! };
    case "10s": return { number: row.rates.bytes[1]! };
    case "40s": return { number: row.rates.bytes[2]! };
    case "bytes": return { number: row.bytes };
    case "packets": return { number: row.packets };
    case "dns": return figure(row.dnsLatencyNs);
    case "rtt": return figure(row.rttNs);
    case "drops": return figure(row.drops?.packets);
    case "flags": return { number: row.tcpFlags };
  }
}

/** Whether a column holds numbers (sorted descending by default). */
export function isNumericColumn(column: SortColumn): boolean {
  return !["interface", "direction", "protocol", "source", "destination", "group"].includes(column);
}

/** A numeric figure of the row for the proportional bar: the sort column when numeric, else the 2 s rate. */
export function barValue(row: Row, column: SortColumn): number {
  const v = valueOf(row, isNumericColumn(column) && column !== "flags" ? column : "2s");
  return "number" in v ? v.number : 0;
}

export function sortRows(rows: Row[], column: SortColumn, reverse: boolean): Row[] {
  const numeric = isNumericColumn(column);
  const sign = (numeric ? -1 : 1) * (reverse ? -1 : 1);
  const keyed = rows.map((row) => ({ row, value: valueOf(row, column) }));
  keyed.sort((a, b) => {
    let c: number;
    if ("none" in a.value || "none" in b.value) {
      if (!("none" in a.value)) return -1;
      if (!("none" in b.value)) return 1;
      c = 0;
    } else if ("number" in a.value && "number" in b.value) c = a.value.number - b.value.number;
    else c = collator.compare((a.value as { text: string }).text, (b.value as { text: string }).text);
    if (c !== 0) return sign * c;
    return collator.compare(a.row.key, b.row.key);
  });
  return keyed.map((k) => k.row);
}
