import { describe, expect, test } from "bun:test";
import { moveSelection, NO_SELECTION, resolveSelection, scrollTopFor } from "../../../src/tui/model/selection.ts";

const keys = ["a", "b", "c", "d", "e"];

describe("selection", () => {
  test("down from nothing selects the first row, up the last", () => {
    expect(moveSelection(keys, NO_SELECTION, "down", 3)).toEqual({ key: "a", index: 0 });
    expect(moveSelection(keys, NO_SELECTION, "up", 3)).toEqual({ key: "e", index: 4 });
  });

  test("moves stop at the ends; pages move by the page size", () => {
    expect(moveSelection(keys, { key: "a", index: 0 }, "up", 3)).toEqual({ key: "a", index: 0 });
    expect(moveSelection(keys, { key: "b", index: 1 }, "page-down", 3)).toEqual({ key: "e", index: 4 });
    expect(moveSelection(keys, { key: "e", index: 4 }, "page-up", 3)).toEqual({ key: "b", index: 1 });
    expect(moveSelection(keys, { key: "c", index: 2 }, "first", 3)).toEqual({ key: "a", index: 0 });
    expect(moveSelection(keys, { key: "c", index: 2 }, "last", 3)).toEqual({ key: "e", index: 4 });
    expect(moveSelection([], { key: "c", index: 2 }, "down", 3)).toEqual(NO_SELECTION);
  });

  test("the selection follows its key when rows move", () => {
    expect(resolveSelection(["d", "c", "a"], { key: "c", index: 2 })).toEqual({ key: "c", index: 1 });
    expect(moveSelection(["d", "c", "a"], { key: "c", index: 2 }, "down", 3)).toEqual({ key: "a", index: 2 });
  });

  test("when its row goes, the row now at its place is selected", () => {
    expect(resolveSelection(["a", "b", "d"], { key: "c", index: 2 })).toEqual({ key: "d", index: 2 });
    expect(resolveSelection(["a"], { key: "c", index: 2 })).toEqual({ key: "a", index: 0 });
    expect(resolveSelection([], { key: "c", index: 2 })).toEqual(NO_SELECTION);
    expect(resolveSelection(["a"], NO_SELECTION)).toEqual(NO_SELECTION);
  });

  test("scrolling keeps the selected row in view, moving as little as possible", () => {
    expect(scrollTopFor(undefined, 10, 4, 0)).toBe(0);
    expect(scrollTopFor(3, 10, 4, 0)).toBe(0);
    expect(scrollTopFor(4, 10, 4, 0)).toBe(1);
    expect(scrollTopFor(2, 10, 4, 5)).toBe(2);
    expect(scrollTopFor(9, 10, 4, 0)).toBe(6);
    // Rows went away: the window is pulled back so it is not past the end.
    expect(scrollTopFor(undefined, 3, 4, 6)).toBe(0);
  });
});
