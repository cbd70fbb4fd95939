import { describe, expect, test } from "bun:test";
import { parseKeys } from "../../src/tui/key-input.ts";
import { actionForKey } from "../../src/tui/keys.ts";
import { initialViewState } from "../../src/tui/model/view-state.ts";

describe("parseKeys", () => {
  test("arrows and paging keys in both cursor modes", () => {
    expect(parseKeys("\x1b[A\x1b[B\x1bOC\x1bOD\x1b[5~\x1b[6~\x1b[H\x1b[F\x1b[1~\x1b[4~")).toEqual([
      "up", "down", "right", "left", "pageup", "pagedown", "home", "end", "home", "end",
    ]);
  });

  test("Enter, Backspace, Ctrl-C, a lone Esc, and printable characters", () => {
    expect(parseKeys("a/\r\x7f\x03\x1b ?")).toEqual(["a", "/", "enter", "backspace", "ctrl-c", "escape", " ", "?"]);
  });

  test("unknown escape sequences are skipped whole", () => {
    expect(parseKeys("\x1b[1;5Ax\x1b[200~y")).toEqual(["x", "y"]);
  });
});

describe("actionForKey", () => {
  const view = initialViewState();
  const typing = { ...view, editingFilter: true };

  test("view keys", () => {
    expect(["q", "ctrl-c", ">", "<", "r", "g", "G", "/", " ", "n", "u", "?", "down", "b", "1", "escape"].map((k) => actionForKey(k, view))).toEqual([
      { type: "quit" }, { type: "quit" }, { type: "sort-step", by: 1 }, { type: "sort-step", by: -1 }, { type: "sort-reverse" },
      { type: "group-step", by: 1 }, { type: "group-step", by: -1 }, { type: "filter-start" }, { type: "pause-toggle" },
      { type: "names-toggle" }, { type: "units-toggle" }, { type: "help-toggle" }, { type: "select", move: "down" },
      { type: "sort-by", column: "bytes" }, { type: "sort-by", column: "2s" }, { type: "escape" },
    ]);
    expect(actionForKey("z", view)).toBeUndefined();
  });

  test("while filtering, letters go to the filter, q included", () => {
    expect(["q", " ", "backspace", "enter", "escape", "ctrl-c", "up", "tab"].map((k) => actionForKey(k, typing))).toEqual([
      { type: "filter-type", text: "q" }, { type: "filter-type", text: " " }, { type: "filter-backspace" }, { type: "filter-accept" },
      { type: "filter-cancel" }, { type: "quit" }, { type: "select", move: "up" }, undefined,
    ]);
  });
});
