import { describe, expect, test } from "bun:test";
import { frameUpdate } from "../../src/tui/frame-diff.ts";

describe("frameUpdate", () => {
  test("the first frame clears the screen and draws every line, in one synchronized update", () => {
    expect(frameUpdate(undefined, ["ab", "cd"])).toBe("\x1b[?2026h\x1b[H\x1b[2J\x1b[1;1Hab\x1b[0m\x1b[2;1Hcd\x1b[0m\x1b[?2026l");
  });

  test("later frames write only the lines that changed", () => {
    expect(frameUpdate(["ab", "cd", "ef"], ["ab", "cX", "ef"])).toBe("\x1b[?2026h\x1b[2;1HcX\x1b[0m\x1b[?2026l");
    expect(frameUpdate(["ab", "cd", "ef"], ["Ab", "cd", "eF"])).toBe("\x1b[?2026h\x1b[1;1HAb\x1b[0m\x1b[3;1HeF\x1b[0m\x1b[?2026l");
  });

  test("an unchanged frame writes nothing", () => {
    expect(frameUpdate(["ab", "cd"], ["ab", "cd"])).toBe("");
  });

  test("a frame of another height (resize) is drawn whole", () => {
    expect(frameUpdate(["ab"], ["ab", "cd"])).toBe("\x1b[?2026h\x1b[H\x1b[2J\x1b[1;1Hab\x1b[0m\x1b[2;1Hcd\x1b[0m\x1b[?2026l");
  });
});
