import { describe, expect, test } from "bun:test";
import { plainStyle } from "../../../src/tui/components/style.ts";
import { renderTable } from "../../../src/tui/components/table.ts";
import { groupFlows } from "../../../src/tui/model/group-flows.ts";
import { sortRows } from "../../../src/tui/model/sort-rows.ts";
import { initialViewState } from "../../../src/tui/model/view-state.ts";
import { flows, noNames } from "./view-fixture.ts";

describe("renderTable", () => {
  test("flows at 120 columns: sort mark, rates, totals, TCP flags, bars scaled to the largest row", () => {
    const state = initialViewState();
    const rows = sortRows(groupFlows(flows, "flow"), "2s", false);
    expect(renderTable({ rows, state, nameOf: noNames, scrollTop: 0 }, 120, 5, plainStyle)).toEqual([
      "IFACE  DIR PROTO  SOURCE           DESTINATION           2s▼       10s       40s   TOTAL   PKTS FLAGS                   ",
      "eth0   out UDP    198.18.0.1:40001 198.18.0.2:5001   156kB/s  31.3kB/s   7.8kB/s   313kB    300        █████████████████",
      "eth0   out UDP    198.18.0.1:40002 198.18.0.2:5002  12.1kB/s   2.4kB/s    605B/s  24.2kB    100        █▎               ",
      "eth0   in  TCP    [fd00::1]:40003  [fd00::2]:443      750B/s    150B/s   37.5B/s   1.5kB     12 FSPA                    ",
    ]);
  });

  test("host pairs in bits, sorted by total reversed (▲), with a resolved name", () => {
    const state = initialViewState({ grouping: "host-pair", units: "bits", sort: "bytes", reverse: true });
    const rows = sortRows(groupFlows(flows, "host-pair"), "bytes", true);
    const nameOf = (a: string) => (a === "fd00::2" ? "web.test" : undefined);
    expect(renderTable({ rows, state, nameOf, scrollTop: 0 }, 100, 5, plainStyle)).toEqual([
      "HOST PAIR               FLOWS PROTO         2s       10s       40s  TOTAL▲   PKTS FLAGS             ",
      "fd00::1 ↔ web.test          1 TCP      6.0kb/s   1.2kb/s    300b/s  12.0kb     12 FSPA              ",
      "198.18.0.1 ↔ 198.18.0.2     2 UDP      1.3Mb/s   269kb/s  67.4kb/s   2.7Mb    400        ███████████",
    ]);
  });

  test("too narrow: address columns shrink with an ellipsis and the bar goes first; every line is the width", () => {
    const state = initialViewState();
    const rows = sortRows(groupFlows(flows, "flow"), "2s", false);
    const lines = renderTable({ rows, state, nameOf: noNames, scrollTop: 0 }, 100, 5, plainStyle);
    expect(lines[1]).toBe("eth0   out UDP    198.18.0.1:40… 198.18.0.2:5001   156kB/s  31.3kB/s   7.8kB/s   313kB    300       ");
    expect(lines.map((l) => [...l].length)).toEqual([100, 100, 100, 100]);
  });

  test("only the rows from scrollTop that fit the height", () => {
    const state = initialViewState();
    const rows = sortRows(groupFlows(flows, "flow"), "2s", false);
    const lines = renderTable({ rows, state, nameOf: noNames, scrollTop: 1 }, 120, 2, plainStyle);
    expect(lines.length).toBe(2);
    expect(lines[1]!.startsWith("eth0   out UDP    198.18.0.1:40002")).toBe(true);
  });

  test("the selected row is styled whole, bar included", () => {
    const state = { ...initialViewState(), selection: { key: flows[1]!.id.key, index: 1 } };
    const rows = sortRows(groupFlows(flows, "flow"), "2s", false);
    const marked = { ...plainStyle, selected: (t: string) => `<${t}>`, bar: (t: string) => `{${t}}` };
    const lines = renderTable({ rows, state, nameOf: noNames, scrollTop: 0 }, 120, 5, marked);
    expect(lines[2]).toBe("<eth0   out UDP    198.18.0.1:40002 198.18.0.2:5002  12.1kB/s   2.4kB/s    605B/s  24.2kB    100        █▎               >");
    expect(lines[1]!.endsWith(" {█████████████████}")).toBe(true);
  });
});
