/** A horizontal bar `width` cells wide, filled in proportion value/max, in eighths of a cell. */
const eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

export function renderBar(value: number, max: number, width: number): string {
  if (width <= 0) return "";
  const cells = max > 0 ? Math.max(0, Math.min(1, value / max)) * width : 0;
  const full = Math.floor(cells);
  const part = eighths[Math.floor((cells - full) * 8)] ?? "";
  return ("█".repeat(full) + part).padEnd(width, " ");
}
