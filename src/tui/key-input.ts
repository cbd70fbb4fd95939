/**
 * Raw terminal input to key names: arrows, paging keys, Enter, Esc,
 * Backspace, Ctrl-C, and printable characters as themselves. Unknown escape
 * sequences are skipped whole so their bytes never reach the filter.
 */
export type Key = string;

const sequences: Record<string, Key> = {
  "[A": "up", "[B": "down", "[C": "right", "[D": "left",
  OA: "up", OB: "down", OC: "right", OD: "left",
  "[5~": "pageup", "[6~": "pagedown",
  "[H": "home", OH: "home", "[1~": "home", "[7~": "home",
  "[F": "end", OF: "end", "[4~": "end", "[8~": "end",
  "[3~": "delete",
};

export function parseKeys(data: string): Key[] {
  const keys: Key[] = [];
  let i = 0;
  while (i < data.length) {
    const ch = data[i]!;
    if (ch === "\x1b") {
      const next = data[i + 1];
      if (next === "[" || next === "O") {
        // CSI: parameters then one final byte in @..~; SS3: one byte.
        let end = i + 2;
        if (next === "[") while (end < data.length && !/[@-~]/.test(data[end]!)) end++;
        const seq = data.slice(i + 1, end + 1);
        const key = sequences[seq];
        if (key) keys.push(key);
        i = end + 1;
      } else {
        keys.push("escape");
        i++;
      }
      continue;
    }
    if (ch === "\r" || ch === "\n") keys.push("enter");
    else if (ch === "\x7f" || ch === "\b") keys.push("backspace");
    else if (ch === "\x03") keys.push("ctrl-c");
    else if (ch === "\t") keys.push("tab");
    else if (ch >= " ") keys.push(ch);
    i++;
  }
  return keys;
}
