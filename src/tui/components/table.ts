/**
 * The flow table: a title line (the sort column marked ▼ or ▲), then one line
 * per visible row with its proportional bar; the selected row highlighted.
 * Columns sized to content get what the fixed ones leave, the bar the rest.
 */
import type { Row } from "../model/group-flows.ts";
import { barValue, isNumericColumn } from "../model/sort-rows.ts";
import type { ViewState } from "../model/view-state.ts";
import type { NameOf } from "../model/flow-filter.ts";
import { renderBar } from "./bar.ts";
import type { Style } from "./style.ts";
import { columnsOf, enrichmentsIn, type CellContext, type TableColumn } from "./table-columns.ts";
import { fit, textWidth } from "./text-cell.ts";

export const BAR_MAX_WIDTH = 30;
const BAR_MIN_WIDTH = 5;

export interface TableInput {
  rows: Row[];
  state: ViewState;
  nameOf: NameOf;
  /** First row shown (scrolling). */
  scrollTop: number;
}

interface Layout {
  columns: TableColumn[];
  widths: number[];
  barWidth: number;
}

/**
 * Columns and widths for these rows at this width. Too narrow: optional columns
 * go first (flags, 40 s, 10 s, packets, direction/protocol, then DNS, RTT,
 * drops), then content-sized columns shrink, widest first, with an ellipsis.
 * The bar gets what is left. `enrichments`: the DNS/RTT/DROPS columns to
 * show (by default those `rows` have).
 */
export function layoutTable(rows: Row[], input: Pick<TableInput, "state" | "nameOf">, width: number, enrichments = enrichmentsIn(rows, input.state.sort)): Layout {
  const ctx: CellContext = { units: input.state.units, nameOf: input.nameOf };
  const all = columnsOf(input.state.grouping, enrichments);
  const natural = new Map(
    all.map((c) => {
      if (typeof c.width === "number") return [c, c.width];
      const [min, max] = c.width;
      let w = Math.max(min, textWidth(c.title) + 1);
      for (const row of rows) w = Math.max(w, textWidth(c.text(row, ctx)));
      return [c, Math.min(w, max)];
    }),
  );
  const total = (cols: TableColumn[], widths: number[]) => widths.reduce((a, b) => a + b, 0) + cols.length - 1;
  let columns = all;
  // The sort column stays: its mark says what the order is.
  const droppable = all.filter((c) => c.dropOrder !== undefined && c.id !== input.state.sort).sort((a, b) => a.dropOrder! - b.dropOrder!);
  while (total(columns, columns.map((c) => natural.get(c)!)) > width && droppable.length > 0) {
    const drop = droppable.shift()!;
    columns = columns.filter((c) => c !== drop);
  }
  const widths = columns.map((c) => natural.get(c)!);
  while (total(columns, widths) > width) {
    let widest = -1;
    columns.forEach((c, i) => {
      if (typeof c.width !== "number" && widths[i]! > c.width[0] && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    });
    if (widest < 0) break;
    widths[widest]!--;
  }
  const left = width - total(columns, widths) - 1;
  const barWidth = left >= BAR_MIN_WIDTH ? Math.min(left, BAR_MAX_WIDTH) : 0;
  return { columns, widths, barWidth };
}

export function renderTable(input: TableInput, width: number, height: number, style: Style): string[] {
  const { rows, state } = input;
  const visible = rows.slice(input.scrollTop, input.scrollTop + Math.max(0, height - 1));
  // Sized to the rows on screen: thousands of flows cost no more than a page. The
  // enrichment columns are those of every row, so scrolling does not move columns.
  const layout = layoutTable(visible, input, width, enrichmentsIn(rows, state.sort));
  const ctx: CellContext = { units: state.units, nameOf: input.nameOf };
  const descending = isNumericColumn(state.sort) !== state.reverse;
  const titles = layout.columns.map((c, i) => {
    const mark = c.id === state.sort ? (descending ? "▼" : "▲") : "";
    return fit(c.title + mark, layout.widths[i]!, c.align);
  });
  const lines = [style.heading(fit(titles.join(" ") + (layout.barWidth > 0 ? " " : ""), width))];
  let maxBar = 0;
  for (const r of rows) maxBar = Math.max(maxBar, barValue(r, state.sort));
  for (const row of visible) {
    const cells = layout.columns.map((c, i) => fit(c.text(row, ctx), layout.widths[i]!, c.align));
    const bar = layout.barWidth > 0 ? renderBar(barValue(row, state.sort), maxBar, layout.barWidth) : "";
    if (row.key === state.selection.key) lines.push(style.selected(fit(cells.join(" ") + (bar ? " " + bar : ""), width)));
    else lines.push(fit(cells.join(" "), width - (bar ? bar.length + 1 : 0)) + (bar ? " " + style.bar(bar) : ""));
  }
  return lines;
}
