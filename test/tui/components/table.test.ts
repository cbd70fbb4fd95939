import { describe, expect, test } from "bun:test";
import { plainStyle } from "../../../src/tui/components/style.ts";
import { renderTable } from "../../../src/tui/components/table.ts";
import { groupFlows } from "../../../src/tui/model/group-flows.ts";
import { sortRows, type SortColumn } from "../../../src/tui/model/sort-rows.ts";
import { initialViewState } from "../../../src/tui/model/view-state.ts";
import { stat } from "../flow-fixtures.ts";
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

  test("narrower: optional columns go first (flags, 40 s, 10 s, packets), then addresses shrink with an ellipsis", () => {
    const rows = sortRows(groupFlows(flows, "flow"), "2s", false);
    const at = (width: number, sort: SortColumn = "2s") => renderTable({ rows, state: initialViewState({ sort }), nameOf: noNames, scrollTop: 0 }, width, 5, plainStyle);
    expect(at(100).slice(0, 2)).toEqual([
      "IFACE  DIR PROTO  SOURCE           DESTINATION           2s▼       10s       40s   TOTAL   PKTS     ",
      "eth0   out UDP    198.18.0.1:40001 198.18.0.2:5001   156kB/s  31.3kB/s   7.8kB/s   313kB    300     ",
    ]);
    expect(at(70).slice(0, 2)).toEqual([
      "IFACE  DIR PROTO  SOURCE           DESTINATION           2s▼   TOTAL  ",
      "eth0   out UDP    198.18.0.1:40001 198.18.0.2:5001   156kB/s   313kB  ",
    ]);
    // The sort column is never dropped: its mark says what the order is.
    expect(at(70, "flags")).toEqual([
      "IFACE  PROTO  SOURCE          DESTINATION            2s   TOTAL FLAGS▼",
      "eth0   UDP    198.18.0.1:400… 198.18.0.2:5001   156kB/s   313kB       ",
      "eth0   UDP    198.18.0.1:400… 198.18.0.2:5002  12.1kB/s  24.2kB       ",
      "eth0   TCP    [fd00::1]:40003 [fd00::2]:443      750B/s   1.5kB FSPA  ",
    ]);
    for (const width of [120, 100, 70, 50]) expect(at(width).map((l) => [...l].length)).toEqual([width, width, width, width]);
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

test("a flow without addresses (ARP) shows its MACs, and its group shows -", () => {
  const base = stat({ src: "198.18.0.1", dst: "198.18.0.2", bytes: 42, packets: 1 }, [21, 4.2, 1.05]);
  const arp = { ...base, id: { ...base.id, key: "arp", ethType: 0x0806, protocol: "ARP", srcAddr: "", dstAddr: "" } };
  const byFlow = renderTable({ rows: groupFlows([arp], "flow"), state: initialViewState(), nameOf: noNames, scrollTop: 0 }, 100, 2, plainStyle);
  expect(byFlow[1]!.trimEnd()).toBe("eth0   out ARP    02:00:00:00:00:0a 02:00:00:00:00:0b     21B/s    4.2B/s    1.1B/s     42B      1");
  const bySource = renderTable({ rows: groupFlows([arp], "source"), state: initialViewState({ grouping: "source" }), nameOf: noNames, scrollTop: 0 }, 100, 2, plainStyle);
  expect(bySource[1]).toBe("-                1 ARP        21B/s    4.2B/s    1.1B/s     42B      1        ██████████████████████");
});
