/**
 * One full frame: header, table (or help), details of the selected row,
 * footer — exactly `height` lines of exactly `width` cells, so the terminal
 * owner can diff frames line by line.
 */
import type { NameOf } from "../model/flow-filter.ts";
import type { Row } from "../model/group-flows.ts";
import type { ViewState } from "../model/view-state.ts";
import { detailLines, detailsHeight, renderDetails } from "./details.ts";
import { renderFooter } from "./footer.ts";
import { HEADER_HEIGHT, renderHeader, type HeaderInput } from "./header.ts";
import { renderHelp } from "./help.ts";
import type { Style } from "./style.ts";
import { renderTable } from "./table.ts";
import { fit } from "./text-cell.ts";

export interface ScreenInput {
  header: Omit<HeaderInput, "state">;
  rows: Row[];
  state: ViewState;
  nameOf: NameOf;
  scrollTop: number;
}

const FOOTER_HEIGHT = 1;

function selectedRow(rows: Row[], state: ViewState): Row | undefined {
  return state.selection.key === undefined ? undefined : rows.find((r) => r.key === state.selection.key);
}

/** The selected row's detail lines, when the panel shows. */
function selectedDetails(rows: Row[], state: ViewState, nameOf: NameOf): { row: Row; lines: string[] } | undefined {
  const row = selectedRow(rows, state);
  return row && !state.help ? { row, lines: detailLines(row, state.units, nameOf) } : undefined;
}

/** Lines the table gets (its title line included) at this height and state. */
export function tableHeight(height: number, rows: Row[], state: ViewState, nameOf: NameOf = () => undefined): number {
  const details = selectedDetails(rows, state, nameOf);
  return Math.max(0, height - HEADER_HEIGHT - FOOTER_HEIGHT - (details ? detailsHeight(details.row, details.lines) : 0));
}

export function renderScreen(input: ScreenInput, width: number, height: number, style: Style): string[] {
  const { rows, state } = input;
  const lines = renderHeader({ ...input.header, state }, width, style);
  const bodyHeight = tableHeight(height, rows, state, input.nameOf);
  const selected = selectedDetails(rows, state, input.nameOf);
  if (state.help) {
    lines.push(...renderHelp(width, height - HEADER_HEIGHT - FOOTER_HEIGHT, style));
  } else {
    lines.push(...renderTable({ rows, state, nameOf: input.nameOf, scrollTop: input.scrollTop }, width, bodyHeight, style));
    while (lines.length < HEADER_HEIGHT + bodyHeight) lines.push(fit("", width));
    if (selected) lines.push(...renderDetails(selected.row, state.units, input.nameOf, width, detailsHeight(selected.row, selected.lines), style, selected.lines));
  }
  while (lines.length < height - FOOTER_HEIGHT) lines.push(fit("", width));
  lines.length = Math.max(0, height - FOOTER_HEIGHT);
  lines.push(...renderFooter(state, width, style));
  return lines.slice(0, height);
}
