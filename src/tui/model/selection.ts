/**
 * The selected row, followed by key so it stays on its flow or group while
 * rows move. When its row goes away (expired, filtered out) the selection
 * falls to the row now at its old position. The scroll offset keeps it in
 * view.
 */
export interface Selection {
  /** undefined: nothing selected. */
  key: string | undefined;
  /** Where the selected row was last seen, for when its key disappears. */
  index: number;
}

export const NO_SELECTION: Selection = { key: undefined, index: 0 };

export type SelectionMove = "up" | "down" | "page-up" | "page-down" | "first" | "last";

/** The selection as it applies to these rows now. */
export function resolveSelection(keys: string[], selection: Selection): Selection {
  if (selection.key === undefined) return selection;
  if (keys.length === 0) return NO_SELECTION;
  const index = keys.indexOf(selection.key);
  if (index >= 0) return { key: selection.key, index };
  const fallback = Math.min(selection.index, keys.length - 1);
  return { key: keys[fallback], index: fallback };
}

export function moveSelection(keys: string[], selection: Selection, move: SelectionMove, pageSize: number): Selection {
  if (keys.length === 0) return NO_SELECTION;
  const current = resolveSelection(keys, selection);
  const last = keys.length - 1;
  let index: number;
  if (current.key === undefined) index = move === "last" || move === "up" ? last : 0;
  else {
    const page = Math.max(1, pageSize);
    const steps: Record<SelectionMove, number> = { up: -1, down: 1, "page-up": -page, "page-down": page, first: -Infinity, last: Infinity };
    index = Math.max(0, Math.min(last, current.index + steps[move]));
  }
  return { key: keys[index], index };
}

/** First visible row so that `index` is inside a window of `height` rows, moving the window as little as possible. */
export function scrollTopFor(index: number | undefined, count: number, height: number, previousTop: number): number {
  const maxTop = Math.max(0, count - height);
  let top = Math.min(previousTop, maxTop);
  if (index === undefined || height <= 0) return top;
  if (index < top) top = index;
  if (index >= top + height) top = index - height + 1;
  return Math.max(0, Math.min(top, maxTop));
}
