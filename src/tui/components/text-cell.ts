/**
 * Fitting text to a width. Widths are counted in code points: the view shows
 * addresses, names and ASCII figures; a wide character in a resolved name
 * may push a line one cell, which the next full redraw corrects.
 */
export function textWidth(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Cut to `width`, ending with "…" when something was cut. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  const chars = [...text];
  if (chars.length <= width) return text;
  return chars.slice(0, width - 1).join("") + "…";
}

/** Exactly `width` cells: cut or padded, on the left for right-aligned cells. */
export function fit(text: string, width: number, align: "left" | "right" = "left"): string {
  const cut = truncate(text, width);
  const pad = " ".repeat(Math.max(0, width - textWidth(cut)));
  return align === "right" ? pad + cut : cut + pad;
}

const plain = (text: string) => text;

/**
 * `left` and `right` on one line of exactly `width` cells, `right` against
 * the right edge and kept whole when it fits (it says more per cell: a time,
 * a warning); each styled after fitting.
 */
export function spread(left: string, right: string, width: number, styleLeft = plain, styleRight = plain): string {
  const r = truncate(right, width);
  const rightWidth = textWidth(r);
  const gap = right && rightWidth < width ? 1 : 0;
  return styleLeft(fit(left, width - rightWidth - gap)) + " ".repeat(gap) + (r ? styleRight(r) : "");
}

/** `first` then `rest` on one line of exactly `width` cells, `first` kept whole when it fits. */
export function lead(first: string, rest: string, width: number, styleFirst = plain, styleRest = plain): string {
  const f = truncate(first, width);
  return (f ? styleFirst(f) : "") + styleRest(fit(rest, width - textWidth(f)));
}
