/**
 * Colours and emphasis, applied after text is fitted to its width (so widths
 * are computed on plain text). Level 0 returns text unchanged: NO_COLOR,
 * output that is not a terminal, and tests.
 */
import { Chalk } from "chalk";

export interface Style {
  title(text: string): string;
  heading(text: string): string;
  selected(text: string): string;
  dim(text: string): string;
  bar(text: string): string;
  warn(text: string): string;
  key(text: string): string;
}

export function createStyle(level: 0 | 1 | 2 | 3): Style {
  const c = new Chalk({ level });
  return {
    title: (t) => c.bold(t),
    heading: (t) => c.inverse.bold(t),
    selected: (t) => c.bgBlue.white(t),
    dim: (t) => c.dim(t),
    bar: (t) => c.green(t),
    warn: (t) => c.yellow.bold(t),
    key: (t) => c.cyan.bold(t),
  };
}

export const plainStyle = createStyle(0);

/** Colour level for a stream: none when NO_COLOR is set (any non-empty value) or the stream is not a terminal. */
export function colorLevelFor(stream: { isTTY?: boolean; getColorDepth?: () => number }, env = process.env): 0 | 1 | 2 | 3 {
  if (env.NO_COLOR) return 0;
  if (!stream.isTTY) return 0;
  const depth = stream.getColorDepth?.() ?? 4;
  return depth >= 24 ? 3 : depth >= 8 ? 2 : 1;
}
