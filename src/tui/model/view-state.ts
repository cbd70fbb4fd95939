/**
 * What the user chose: grouping, sort, filter, pause, units, names, help,
 * selection. Keys become actions (src/tui/keys.ts); applyAction is the one
 * place they change the state. Pure: no terminal, no clock.
 */
import { GROUPINGS, type Grouping } from "./group-flows.ts";
import { moveSelection, NO_SELECTION, type Selection, type SelectionMove } from "./selection.ts";
import { columnsFor, sortColumnFor, type SortColumn } from "./sort-rows.ts";

export type Units = "bytes" | "bits";

export interface ViewState {
  grouping: Grouping;
  sort: SortColumn;
  reverse: boolean;
  filter: string;
  /** Keys go to the filter text while true. */
  editingFilter: boolean;
  paused: boolean;
  units: Units;
  resolveNames: boolean;
  help: boolean;
  selection: Selection;
  quit: boolean;
}

export type Action =
  | { type: "sort-step"; by: 1 | -1 }
  | { type: "sort-by"; column: SortColumn }
  | { type: "sort-reverse" }
  | { type: "group-step"; by: 1 | -1 }
  /** Group by process; again: by container (and back). */
  | { type: "owner-group" }
  | { type: "filter-start" }
  | { type: "filter-type"; text: string }
  | { type: "filter-backspace" }
  | { type: "filter-accept" }
  | { type: "filter-cancel" }
  | { type: "pause-toggle" }
  | { type: "select"; move: SelectionMove }
  | { type: "escape" }
  | { type: "names-toggle" }
  | { type: "units-toggle" }
  | { type: "help-toggle" }
  | { type: "quit" };

export function initialViewState(options: Partial<ViewState> = {}): ViewState {
  const state: ViewState = {
    grouping: "flow", sort: "2s", reverse: false, filter: "", editingFilter: false, paused: false,
    units: "bytes", resolveNames: false, help: false, selection: NO_SELECTION, quit: false, ...options,
  };
  return { ...state, sort: sortColumnFor(state.grouping, state.sort) };
}

const step = <T>(list: readonly T[], current: T, by: number): T => list[(list.indexOf(current) + by + list.length) % list.length]!;

/** The state after `action`, given the keys of the rows shown (for selection moves) and the table's height. */
export function applyAction(state: ViewState, action: Action, rowKeys: string[], pageSize: number): ViewState {
  switch (action.type) {
    case "sort-step":
      return { ...state, sort: step(columnsFor(state.grouping), state.sort, action.by) };
    case "sort-by":
      return { ...state, sort: sortColumnFor(state.grouping, action.column) };
    case "sort-reverse":
      return { ...state, reverse: !state.reverse };
    case "group-step": {
      const grouping = step(GROUPINGS, state.grouping, action.by);
      return { ...state, grouping, sort: sortColumnFor(grouping, state.sort), selection: NO_SELECTION };
    }
    case "owner-group": {
      const grouping: Grouping = state.grouping === "process" ? "container" : "process";
      return { ...state, grouping, sort: sortColumnFor(grouping, state.sort), selection: NO_SELECTION };
    }
    case "filter-start":
      return { ...state, editingFilter: true, help: false };
    case "filter-type":
      return { ...state, filter: state.filter + action.text };
    case "filter-backspace":
      return { ...state, filter: state.filter.slice(0, -1) };
    case "filter-accept":
      return { ...state, editingFilter: false };
    case "filter-cancel":
      return { ...state, editingFilter: false, filter: "" };
    case "pause-toggle":
      return { ...state, paused: !state.paused };
    case "select":
      return { ...state, selection: moveSelection(rowKeys, state.selection, action.move, pageSize) };
    case "escape":
      // Closes the innermost thing open: help, then the selection, then the filter.
      if (state.help) return { ...state, help: false };
      if (state.selection.key !== undefined) return { ...state, selection: NO_SELECTION };
      return { ...state, filter: "" };
    case "names-toggle":
      return { ...state, resolveNames: !state.resolveNames };
    case "units-toggle":
      return { ...state, units: state.units === "bytes" ? "bits" : "bytes" };
    case "help-toggle":
      return { ...state, help: !state.help };
    case "quit":
      return { ...state, quit: true };
  }
}
