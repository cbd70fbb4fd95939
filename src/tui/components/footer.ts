/** The bottom line: the keys, or the filter being typed. */
import type { ViewState } from "../model/view-state.ts";
import type { Style } from "./style.ts";
import { fit, truncate } from "./text-cell.ts";

const hints: [string, string][] = [
  ["q", "quit"], ["?", "help"], ["</>", "sort"], ["r", "reverse"], ["g o", "group"], ["/", "filter"],
  ["space", "pause"], ["↑↓", "select"], ["n", "names"], ["u", "units"],
];

export function renderFooter(state: ViewState, width: number, style: Style): string[] {
  if (state.editingFilter) {
    const prompt = `filter: ${state.filter}_`;
    const help = "  (Enter keep · Esc clear · address, port, interface, protocol)";
    return [style.key(truncate(prompt, width)) + fit(help, Math.max(0, width - Math.min(width, prompt.length)))];
  }
  let plain = "";
  let styled = "";
  for (const [key, what] of hints) {
    const item = `${key} ${what}  `;
    if (plain.length + item.length > width) break;
    plain += item;
    styled += style.key(key) + ` ${what}  `;
  }
  return [styled + " ".repeat(Math.max(0, width - plain.length))];
}
