import { describe, expect, test } from "bun:test";
import { renderBar } from "../../../src/tui/components/bar.ts";
import { formatInterval, formatRate, formatVolume, siNumber } from "../../../src/tui/components/format-units.ts";
import { colorLevelFor, createStyle } from "../../../src/tui/components/style.ts";
import { fit, lead, spread, truncate } from "../../../src/tui/components/text-cell.ts";
import { tcpFlagLetters } from "../../../src/tui/components/table-columns.ts";

describe("figures", () => {
  test("SI prefixes with one decimal below 100, none above", () => {
    expect([0, 7, 999, 1000, 1234, 12_345, 99_940, 99_960, 123_456, 999_499, 999_500, 1.5e9, 2.5, 150.3, 999.7].map(siNumber)).toEqual([
      "0", "7", "999", "1.0k", "1.2k", "12.3k", "99.9k", "100k", "123k", "999k", "1.0M", "1.5G", "2.5", "150", "1.0k",
    ]);
  });

  test("rates and volumes in bytes or bits", () => {
    expect(formatRate(156_300, "bytes")).toBe("156kB/s");
    expect(formatRate(156_300, "bits")).toBe("1.3Mb/s");
    expect(formatVolume(24_200, "bytes")).toBe("24.2kB");
    expect(formatVolume(24_200, "bits")).toBe("194kb");
    expect([100, 1000, 1500, 60_000].map(formatInterval)).toEqual(["100ms", "1s", "1.5s", "60s"]);
  });

  test("bars in eighths of a cell", () => {
    expect(renderBar(10, 10, 4)).toBe("████");
    expect(renderBar(5, 10, 4)).toBe("██  ");
    expect(renderBar(1, 10, 4)).toBe("▍   ");
    expect(renderBar(0, 0, 3)).toBe("   ");
    expect(renderBar(20, 10, 2)).toBe("██");
  });

  test("fitting text to cells", () => {
    expect(fit("abc", 5)).toBe("abc  ");
    expect(fit("abc", 5, "right")).toBe("  abc");
    expect(fit("abcdef", 4)).toBe("abc…");
    expect(truncate("abc", 0)).toBe("");
    expect(fit("a ↔ b", 5)).toBe("a ↔ b");
  });

  test("TCP flags as letters in header-bit order", () => {
    expect(tcpFlagLetters(0)).toBe("");
    expect(tcpFlagLetters(0x12)).toBe("SA");
    expect(tcpFlagLetters(0x1ff)).toBe("FSRPAUECN");
  });
});

describe("colour", () => {
  test("none with NO_COLOR or when the output is not a terminal", () => {
    expect(colorLevelFor({ isTTY: true, getColorDepth: () => 24 }, { NO_COLOR: "1" })).toBe(0);
    expect(colorLevelFor({ isTTY: false, getColorDepth: () => 24 }, {})).toBe(0);
    expect(colorLevelFor({ isTTY: true, getColorDepth: () => 24 }, {})).toBe(3);
    expect(colorLevelFor({ isTTY: true, getColorDepth: () => 8 }, {})).toBe(2);
    expect(colorLevelFor({ isTTY: true, getColorDepth: () => 4 }, {})).toBe(1);
  });

  test("level 0 leaves text as is; level 1 adds SGR codes", () => {
    expect(createStyle(0).heading("IFACE")).toBe("IFACE");
    expect(createStyle(1).heading("IFACE")).toBe("\x1b[7m\x1b[1mIFACE\x1b[22m\x1b[27m");
  });
});

describe("one line from two parts", () => {
  test("spread: the right part against the edge and kept whole; the left part cut first", () => {
    expect(spread("left", "12:00", 12)).toBe("left   12:00");
    expect(spread("a long left part", "12:00", 12)).toBe("a lon… 12:00");
    expect(spread("left", "12:00", 5)).toBe("12:00");
    expect(spread("left", "12:00", 3)).toBe("12…");
    expect(spread("left", "", 6)).toBe("left  ");
  });

  test("lead: the first part kept whole, the rest fitted after it", () => {
    expect(lead("PAUSED  ", "by flow", 20)).toBe("PAUSED  by flow     ");
    expect(lead("PAUSED  ", "by flow", 10)).toBe("PAUSED  b…");
    expect(lead("PAUSED  ", "by flow", 4)).toBe("PAU…");
  });
});
