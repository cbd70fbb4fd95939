/**
 * Batch mode (`top --once`, like `top -b`): the header and every row as
 * plain text, from the same model and components as the live view.
 */
import type { NameOf } from "../model/flow-filter.ts";
import type { Row } from "../model/group-flows.ts";
import type { ViewState } from "../model/view-state.ts";
import { renderHeader, type HeaderInput } from "./header.ts";
import type { Style } from "./style.ts";
import { renderTable } from "./table.ts";

export function renderSnapshot(header: Omit<HeaderInput, "state">, rows: Row[], state: ViewState, nameOf: NameOf, width: number, style: Style): string {
  const lines = [
    ...renderHeader({ ...header, state }, width, style),
    "",
    ...renderTable({ rows, state: { ...state, selection: { key: undefined, index: 0 } }, nameOf, scrollTop: 0 }, width, rows.length + 1, style),
  ];
  return lines.map((l) => l.trimEnd()).join("\n") + "\n";
}
