/**
 * What to write to turn the previous frame into the next: only the lines that
 * changed, each addressed by cursor position, all in one synchronized update
 * (CSI ?2026h … ?2026l) so the terminal never shows half a frame. A first
 * frame, or one of another height, is drawn whole after clearing the screen.
 */
export const BEGIN_SYNC = "\x1b[?2026h";
export const END_SYNC = "\x1b[?2026l";

export function frameUpdate(previous: readonly string[] | undefined, next: readonly string[]): string {
  const full = previous === undefined || previous.length !== next.length;
  let body = full ? "\x1b[H\x1b[2J" : "";
  next.forEach((line, i) => {
    if (!full && previous[i] === line) return;
    body += `\x1b[${i + 1};1H${line}\x1b[0m`;
  });
  return body === "" ? "" : BEGIN_SYNC + body + END_SYNC;
}
