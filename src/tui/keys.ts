/** Keys to actions: what each key does in the view, and while the filter is being typed. */
import type { Key } from "./key-input.ts";
import type { Action, ViewState } from "./model/view-state.ts";

const moves: Record<string, Action> = {
  up: { type: "select", move: "up" },
  down: { type: "select", move: "down" },
  pageup: { type: "select", move: "page-up" },
  pagedown: { type: "select", move: "page-down" },
  home: { type: "select", move: "first" },
  end: { type: "select", move: "last" },
};

const viewKeys: Record<string, Action> = {
  ...moves,
  q: { type: "quit" },
  "ctrl-c": { type: "quit" },
  "<": { type: "sort-step", by: -1 },
  ">": { type: "sort-step", by: 1 },
  left: { type: "sort-step", by: -1 },
  right: { type: "sort-step", by: 1 },
  "1": { type: "sort-by", column: "2s" },
  "2": { type: "sort-by", column: "10s" },
  "3": { type: "sort-by", column: "40s" },
  b: { type: "sort-by", column: "bytes" },
  p: { type: "sort-by", column: "packets" },
  l: { type: "sort-by", column: "dns" },
  t: { type: "sort-by", column: "rtt" },
  d: { type: "sort-by", column: "drops" },
  r: { type: "sort-reverse" },
  g: { type: "group-step", by: 1 },
  G: { type: "group-step", by: -1 },
  o: { type: "owner-group" },
  "/": { type: "filter-start" },
  " ": { type: "pause-toggle" },
  n: { type: "names-toggle" },
  u: { type: "units-toggle" },
  "?": { type: "help-toggle" },
  h: { type: "help-toggle" },
  escape: { type: "escape" },
};

export function actionForKey(key: Key, state: ViewState): Action | undefined {
  if (!state.editingFilter) return viewKeys[key];
  if (key === "enter") return { type: "filter-accept" };
  if (key === "escape") return { type: "filter-cancel" };
  if (key === "backspace") return { type: "filter-backspace" };
  if (key === "ctrl-c") return { type: "quit" };
  if (moves[key]) return moves[key];
  if ([...key].length === 1) return { type: "filter-type", text: key };
  return undefined;
}
