import { describe, expect, test } from "bun:test";
import { renderFooter } from "../../../src/tui/components/footer.ts";
import { renderHeader, selfCheckText } from "../../../src/tui/components/header.ts";
import { renderScreen, tableHeight } from "../../../src/tui/components/screen.ts";
import { plainStyle } from "../../../src/tui/components/style.ts";
import { groupFlows } from "../../../src/tui/model/group-flows.ts";
import { sortRows } from "../../../src/tui/model/sort-rows.ts";
import { initialViewState } from "../../../src/tui/model/view-state.ts";
import { flows, header, noNames } from "./view-fixture.ts";

describe("header", () => {
  test("host, source, time, interfaces, totals over 2 s, interval, drops, view settings", () => {
    expect(renderHeader({ ...header, state: initialViewState() }, 100, plainStyle)).toEqual([
      "netflow-agent top · node-1 · local                                                          03:04:05",
      "interfaces: lo, eth0                                                                                ",
      "rx 750B/s  tx 168kB/s  1.7k pkt/s  flows 3  rows 3  every 1s  drops 0                               ",
      "by flow · sort 2s · no filter · bytes · names off                                                   ",
    ]);
  });

  test("sampled flows: totals marked ~ (estimated) and the rate named", () => {
    expect(renderHeader({ ...header, sampling: 100, state: initialViewState() }, 120, plainStyle)[2]).toBe(
      "rx ~750B/s  tx ~168kB/s  ~1.7k pkt/s  sampled 1/100 (~: estimated)  flows 3  rows 3  every 1s  drops 0".padEnd(120),
    );
  });

  test("drops, a message, pause, filter and names stand out", () => {
    const state = { ...initialViewState({ grouping: "port", sort: "bytes", reverse: true, filter: "udp", resolveNames: true }), paused: true };
    const h = { ...header, counters: { ...header.counters, droppedPackets: 1234 }, message: "agent 127.0.0.1:1: connection refused", state };
    expect(renderHeader(h, 100, plainStyle)).toEqual([
      "netflow-agent top · node-1 · local                                                          03:04:05",
      "interfaces: lo, eth0                                           agent 127.0.0.1:1: connection refused",
      "rx 750B/s  tx 168kB/s  1.7k pkt/s  flows 3  rows 3  every 1s                              drops 1.2k",
      'PAUSED  by port · sort bytes reversed · filter "udp" · bytes · names on                             ',
    ]);
  });
});

describe("the accounting self-check in the header", () => {
  const entry = (name: string, direction: "ingress" | "egress", checkedPackets: number, kernelPackets: number) => ({ name, direction, checkedPackets, kernelPackets });

  test("per direction, the interface farthest from 100%, named when off and not alone", () => {
    expect(selfCheckText(undefined)).toBeUndefined();
    expect(selfCheckText([entry("eth0", "ingress", 0, 0), entry("eth0", "egress", 0, 0)])).toBeUndefined();
    expect(selfCheckText([entry("eth0", "ingress", 500, 500), entry("eth0", "egress", 300, 300)])).toBe("check rx 100.0% tx 100.0%");
    expect(selfCheckText([entry("eth0", "ingress", 997, 1000), entry("eth0", "egress", 10, 0)])).toBe("check rx 99.7%");
    expect(
      selfCheckText([entry("eth0", "ingress", 1000, 1000), entry("veth1", "ingress", 980, 1000), entry("lo", "ingress", 1010, 1000), entry("veth1", "egress", 4000, 1000)]),
    ).toBe("check rx 98.0% (veth1) tx 400.0%");
  });

  test("shown after the drops", () => {
    const accounting = [entry("eth0", "ingress", 500, 500), entry("eth0", "egress", 300, 300)];
    expect(renderHeader({ ...header, accounting, state: initialViewState() }, 100, plainStyle)[2]).toBe(
      "rx 750B/s  tx 168kB/s  1.7k pkt/s  flows 3  rows 3  every 1s  drops 0  check rx 100.0% tx 100.0%    ",
    );
  });
});

describe("footer", () => {
  test("the keys, cut to what fits", () => {
    expect(renderFooter(initialViewState(), 100, plainStyle)).toEqual(["q quit  ? help  </> sort  r reverse  g o group  / filter  space pause  ↑↓ select  n names  u units  "]);
    expect(renderFooter(initialViewState(), 30, plainStyle)).toEqual(["q quit  ? help  </> sort      "]);
  });

  test("while filtering: the text typed and how to finish", () => {
    expect(renderFooter({ ...initialViewState(), editingFilter: true, filter: "198" }, 80, plainStyle)).toEqual([
      "filter: 198_  (Enter keep · Esc clear · address, port, interface, protocol)     ",
    ]);
  });
});

describe("screen", () => {
  const rows = sortRows(groupFlows(flows, "flow"), "2s", false);

  test("a selected flow shows its details under the table; exactly height lines of width cells", () => {
    const state = { ...initialViewState(), selection: { key: rows[1]!.key, index: 1 } };
    const lines = renderScreen({ header, rows, state, nameOf: noNames, scrollTop: 0 }, 100, 20, plainStyle);
    expect(lines.slice(4)).toEqual([
      "IFACE  DIR PROTO  SOURCE           DESTINATION           2s▼       10s       40s   TOTAL   PKTS     ",
      "eth0   out UDP    198.18.0.1:40001 198.18.0.2:5001   156kB/s  31.3kB/s   7.8kB/s   313kB    300     ",
      "eth0   out UDP    198.18.0.1:40002 198.18.0.2:5002  12.1kB/s   2.4kB/s    605B/s  24.2kB    100     ",
      "eth0   in  TCP    [fd00::1]:40003  [fd00::2]:443      750B/s    150B/s   37.5B/s   1.5kB     12     ",
      " ".repeat(100),
      " ".repeat(100),
      " ".repeat(100),
      "─ details (Esc to close) ───────────────────────────────────────────────────────────────────────────",
      "flow     eth0 out UDP 198.18.0.1:40002 → 198.18.0.2:5002                                            ",
      "macs     02:00:00:00:00:0a → 02:00:00:00:00:0b   dscp 0   tcp flags -                               ",
      "rates    2s 12.1kB/s 121 pkt/s · 10s 2.4kB/s 24 pkt/s · 40s 605B/s 6 pkt/s                          ",
      "total    24200 bytes · 100 packets · first 00:00:00.000 · last 00:00:00.000                         ",
      " ".repeat(100),
      " ".repeat(100),
      " ".repeat(100),
      "q quit  ? help  </> sort  r reverse  g o group  / filter  space pause  ↑↓ select  n names  u units  ",
    ]);
    expect(lines.map((l) => [...l].length)).toEqual(Array(20).fill(100));
    expect(tableHeight(20, rows, state)).toBe(7);
    expect(tableHeight(20, rows, initialViewState())).toBe(15);
  });

  test("a selected group lists its flows, largest first", () => {
    const groups = groupFlows(flows, "host-pair");
    const state = { ...initialViewState({ grouping: "host-pair" }), selection: { key: groups[0]!.key, index: 0 } };
    const lines = renderScreen({ header, rows: groups, state, nameOf: noNames, scrollTop: 0 }, 100, 16, plainStyle);
    expect(lines.slice(7, 14).map((l) => l.trimEnd())).toEqual([
      "─ details (Esc to close) ───────────────────────────────────────────────────────────────────────────",
      "hosts    198.18.0.1 ↔ 198.18.0.2",
      "flows    2 · protocols UDP · tcp flags -",
      "rates    2s 168kB/s 1.7k pkt/s · 10s 33.7kB/s 337 pkt/s · 40s 8.4kB/s 84 pkt/s",
      "total    336800 bytes · 400 packets",
      "    156kB/s       312600 B  eth0 out UDP 198.18.0.1:40001 → 198.18.0.2:5001",
      "   12.1kB/s        24200 B  eth0 out UDP 198.18.0.1:40002 → 198.18.0.2:5002",
    ]);
  });

  test("help replaces the table and the details", () => {
    const state = { ...initialViewState(), help: true, selection: { key: rows[0]!.key, index: 0 } };
    const lines = renderScreen({ header, rows, state, nameOf: noNames, scrollTop: 0 }, 100, 24, plainStyle);
    expect(lines[4]!.trimEnd()).toBe(" keys");
    expect(lines[6]!.trimEnd()).toBe("  < >  ← →                sort by the previous / next column");
    expect(lines[22]!.trimEnd()).toBe("  q  Ctrl-C               quit (everything the view attached is detached)");
    expect(lines.some((l) => l.includes("─ details"))).toBe(false);
    expect(lines.length).toBe(24);
  });
});

describe("screen at any size", () => {
  test("exactly height lines of exactly width cells, whatever is open", () => {
    const rows = sortRows(groupFlows(flows, "flow"), "2s", false);
    const states = [
      initialViewState(),
      { ...initialViewState(), selection: { key: rows[0]!.key, index: 0 } },
      { ...initialViewState(), help: true },
      { ...initialViewState({ filter: "a long filter text" }), editingFilter: true, paused: true },
      { ...initialViewState({ grouping: "host-pair" }), selection: { key: "198.18.0.1 198.18.0.2", index: 0 } },
    ];
    const withDrops = { ...header, counters: { ...header.counters, droppedPackets: 5, mapErrors: 1 }, message: "a warning" };
    for (const state of states)
      for (const h of [header, withDrops])
        for (const width of [1, 9, 10, 40, 80, 200])
          for (const height of [1, 5, 6, 13, 30]) {
            const lines = renderScreen({ header: h, rows: groupFlows(flows, state.grouping), state, nameOf: noNames, scrollTop: 0 }, width, height, plainStyle);
            expect({ width, height, lines: lines.length }).toEqual({ width, height, lines: height });
            for (const line of lines) expect({ width, height, line, cells: [...line].length }).toEqual({ width, height, line, cells: width });
          }
  });
});
