/**
 * Frames of `top` with the enrichments (--enable-dns, --enable-rtt,
 * --enable-drops): the DNS, RTT and DROPS columns while a row has one (or the
 * table is sorted by it), at 120 and 80 columns, and the details of a flow
 * and of a group.
 */
import { describe, expect, test } from "bun:test";
import type { FlowDrops } from "../../../src/flow/flow-drops.ts";
import { detailLines, DETAILS_HEIGHT, detailsHeight } from "../../../src/tui/components/details.ts";
import { formatLatency } from "../../../src/tui/components/format-units.ts";
import { HELP_LINES } from "../../../src/tui/components/help.ts";
import { renderScreen, tableHeight } from "../../../src/tui/components/screen.ts";
import { plainStyle } from "../../../src/tui/components/style.ts";
import { renderTable } from "../../../src/tui/components/table.ts";
import { groupFlows } from "../../../src/tui/model/group-flows.ts";
import { sortRows, type SortColumn } from "../../../src/tui/model/sort-rows.ts";
import { trafficTotals } from "../../../src/tui/model/top-view.ts";
import { initialViewState } from "../../../src/tui/model/view-state.ts";
import { stat } from "../flow-fixtures.ts";
import { flows as plainFlows, header, noNames } from "./view-fixture.ts";

const ms = 1e6;
const drop = (packets: number, bytes: number, over: Partial<FlowDrops> = {}): FlowDrops => ({ packets, bytes, reason: "NETFILTER_DROP", reasonCode: 6, tcpState: 0, tcpFlags: 0, ...over });
const flows = [
  stat({ src: "198.18.0.2", dst: "198.18.0.1", srcPort: 53, dstPort: 41234, bytes: 90, packets: 1, direction: "ingress", dns: { id: 45660, flags: 0x8183, latencyNs: 40_396_000, name: "nosuch.test" } }, [45, 9, 2]),
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40000, dstPort: 443, protocol: 6, bytes: 5000, packets: 40, endMs: 3000, rtt: { latestNs: 12.3 * ms, minNs: 10.1 * ms, maxNs: 15 * ms }, drops: drop(3, 180, { reason: "TCP_INVALID_SEQUENCE", reasonCode: 40, tcpState: 1, tcpFlags: 0x10 }) }, [2500, 500, 125]),
  stat({ src: "198.18.0.1", dst: "198.18.0.9", srcPort: 40002, dstPort: 80, protocol: 6, bytes: 0, packets: 0, endMs: 2000, drops: drop(1200, 72000, { tcpState: 2, tcpFlags: 0x02 }) }),
];
const table = (rowsOf: typeof flows, width: number, sort: SortColumn = "2s", scrollTop = 0, height = 5) =>
  renderTable({ rows: sortRows(groupFlows(rowsOf, "flow"), sort, false), state: initialViewState({ sort }), nameOf: noNames, scrollTop }, width, height, plainStyle);

describe("the DNS, RTT and DROPS columns", () => {
  test("at 120 columns: DNS latency, RTT (the interval's maximum), dropped packets; blank where a flow has none", () => {
    expect(table(flows, 120)).toEqual([
      "IFACE  DIR PROTO  SOURCE           DESTINATION            2s▼       10s       40s   TOTAL   PKTS   DNS   RTT  DROPS     ",
      "eth0   out TCP    198.18.0.1:40000 198.18.0.2:443     2.5kB/s    500B/s    125B/s   5.0kB     40        15ms      3     ",
      "eth0   in  UDP    198.18.0.2:53    198.18.0.1:41234     45B/s      9B/s      2B/s     90B      1  40ms                  ",
      "eth0   out TCP    198.18.0.1:40002 198.18.0.9:80         0B/s      0B/s      0B/s      0B      0               1.2k     ",
    ]);
  });

  test("at 80 columns: the enrichments outlast the other optional columns, DNS going first, then RTT; the sort column stays", () => {
    expect(table(flows, 80)).toEqual([
      "IFACE  PROTO  SOURCE           DESTINATION            2s▼   TOTAL   RTT  DROPS  ",
      "eth0   TCP    198.18.0.1:40000 198.18.0.2:443     2.5kB/s   5.0kB  15ms      3  ",
      "eth0   UDP    198.18.0.2:53    198.18.0.1:41234     45B/s     90B               ",
      "eth0   TCP    198.18.0.1:40002 198.18.0.9:80         0B/s      0B         1.2k  ",
    ]);
    expect(table(flows, 80, "dns")).toEqual([
      "IFACE  PROTO  SOURCE           DESTINATION             2s   TOTAL  DNS▼  DROPS  ",
      "eth0   UDP    198.18.0.2:53    198.18.0.1:41234     45B/s     90B  40ms         ",
      "eth0   TCP    198.18.0.1:40000 198.18.0.2:443     2.5kB/s   5.0kB            3  ",
      "eth0   TCP    198.18.0.1:40002 198.18.0.9:80         0B/s      0B         1.2k  ",
    ]);
    for (const sort of ["2s", "dns", "rtt", "drops"] as const) expect(table(flows, 80, sort).map((l) => [...l].length)).toEqual([80, 80, 80, 80]);
  });

  test("absent while no row has one; shown (blank) while sorted by it", () => {
    expect(table(plainFlows, 120)[0]).not.toMatch(/DNS|RTT|DROPS/);
    expect(table(plainFlows, 120, "drops")[0]!.trimEnd()).toEndWith("PKTS DROPS▼ FLAGS");
  });

  test("chosen from every row, not only those on screen, so scrolling does not move them", () => {
    const scrolled = table(flows, 120, "2s", 2, 2);
    expect(scrolled[0]).toContain("  DNS   RTT  DROPS");
    expect(scrolled[1]!.trimEnd()).toEndWith("1.2k");
  });

  test("latencies in at most 5 characters", () => {
    expect([35_000, 350_400, 999_400, 4_200_000, 40_396_000, 999_400_000, 1_500_000_000, 123_000_000_000].map(formatLatency)).toEqual([
      "35µs", "350µs", "999µs", "4.2ms", "40ms", "999ms", "1.5s", "123s",
    ]);
  });
});

describe("details", () => {
  const rows = sortRows(groupFlows(flows, "flow"), "2s", false);
  const lines = (index: number) => detailLines(rows[index]!, "bytes", noNames);

  test("a flow: DNS name, rcode, latency; RTT latest, min, max; drops with the latest reason and TCP state", () => {
    expect(lines(1).filter((l) => /^(dns|rtt|drops) /.test(l))).toEqual(["dns      nosuch.test · NXDOMAIN · 40.4 ms · id 45660"]);
    expect(lines(0).filter((l) => /^(dns|rtt|drops) /.test(l))).toEqual([
      "rtt      latest 12.3 ms · min 10.1 ms · max 15.0 ms",
      "drops    3 packets · 180B · latest TCP_INVALID_SEQUENCE · TCP ESTABLISHED flags ACK",
    ]);
    expect(lines(2).filter((l) => l.startsWith("drops"))).toEqual(["drops    1200 packets · 72.0kB · latest NETFILTER_DROP · TCP SYN_SENT flags SYN"]);
    // No socket, no TCP flags: no TCP part; bits when the view is in bits.
    const udp = stat({ src: "198.18.0.1", dst: "198.18.0.2", bytes: 0, packets: 0, drops: drop(2, 1000, { reason: "NO_SOCKET", reasonCode: 2 }) });
    expect(detailLines(groupFlows([udp], "flow")[0]!, "bits", noNames).filter((l) => l.startsWith("drops"))).toEqual(["drops    2 packets · 8.0kb · latest NO_SOCKET"]);
    // Sub-millisecond RTTs (loopback) to the µs.
    const lo = stat({ src: "127.0.0.1", dst: "127.0.0.1", protocol: 6, bytes: 1, packets: 1, rtt: { latestNs: 35_000, minNs: 21_000, maxNs: 1_200_000 } });
    expect(detailLines(groupFlows([lo], "flow")[0]!, "bytes", noNames).filter((l) => l.startsWith("rtt"))).toEqual(["rtt      latest 0.035 ms · min 0.021 ms · max 1.2 ms"]);
  });

  test("a group: its largest DNS latency and RTT, its drops summed with the latest reason", () => {
    const pairs = sortRows(groupFlows(flows, "host-pair"), "drops", false);
    const pair = pairs.find((r) => r.key === "198.18.0.1 198.18.0.2")!;
    expect(detailLines(pair, "bytes", noNames).slice(0, 6)).toEqual([
      "hosts    198.18.0.1 ↔ 198.18.0.2",
      "flows    2 · protocols TCP,UDP · tcp flags -",
      "rates    2s 2.5kB/s 25 pkt/s · 10s 509B/s 5 pkt/s · 40s 127B/s 1 pkt/s",
      "total    5090 bytes · 41 packets",
      "largest  dns latency 40.4 ms · rtt 15.0 ms",
      "drops    3 packets · 180B · latest TCP_INVALID_SEQUENCE · TCP ESTABLISHED flags ACK",
    ]);
  });

  test("the panel grows to show every line of a flow with an owner, DNS, RTT and drops (up to 12 lines)", () => {
    const owned = stat({
      src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40000, dstPort: 53, bytes: 90, packets: 1,
      owner: { source: "socket", pid: 4242, comm: "curl", cgroupId: 0, socketCookie: 1 },
      dns: { id: 1, flags: 0x8180, latencyNs: 2 * ms, name: "a.test" },
      rtt: { latestNs: 1 * ms, minNs: 1 * ms, maxNs: 1 * ms },
      drops: drop(1, 60),
    });
    const rows = groupFlows([owned], "flow");
    const state = { ...initialViewState(), selection: { key: rows[0]!.key, index: 0 } };
    const details = detailLines(rows[0]!, "bytes", noNames);
    expect(details.length).toBe(8);
    expect(detailsHeight(rows[0]!, details)).toBe(9);
    expect(detailsHeight(rows[0]!, ["one"])).toBe(DETAILS_HEIGHT);
    expect(detailsHeight(rows[0]!, Array(20).fill("x"))).toBe(12);
    // A group's flows fill what is left: a group of many flows keeps the usual height.
    const many = Array.from({ length: 20 }, (_, i) => stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40000 + i, dstPort: 80, bytes: 1, packets: 1, drops: drop(1, 60) }));
    const [pair] = groupFlows(many, "host-pair");
    expect(detailsHeight(pair!, detailLines(pair!, "bytes", noNames))).toBe(DETAILS_HEIGHT);
    expect(tableHeight(30, rows, state)).toBe(30 - 4 - 1 - 9);
    const screen = renderScreen({ header: { ...header, totals: trafficTotals([owned]) }, rows, state, nameOf: noNames, scrollTop: 0 }, 120, 30, plainStyle);
    expect(screen.length).toBe(30);
    expect(screen.map((l) => l.trimEnd()).slice(20, 29)).toEqual([
      "─ details (Esc to close) " + "─".repeat(95),
      "flow     eth0 out UDP 198.18.0.1:40000 → 198.18.0.2:53",
      "macs     02:00:00:00:00:0a → 02:00:00:00:00:0b   dscp 0   tcp flags -",
      "owner    curl pid 4242 · socket",
      "dns      a.test · NOERROR · 2.0 ms · id 1",
      "rtt      latest 1.0 ms · min 1.0 ms · max 1.0 ms",
      "drops    1 packets · 60B · latest NETFILTER_DROP",
      "rates    2s 0B/s 0 pkt/s · 10s 0B/s 0 pkt/s · 40s 0B/s 0 pkt/s",
      "total    90 bytes · 1 packets · first 00:00:00.000 · last 00:00:00.000",
    ]);
  });
});

test("help names the sort keys and the filter terms", () => {
  const help = HELP_LINES.map(([k, what]) => `${k} ${what}`);
  expect(help).toContain("b p l t d sort by total bytes / packets / DNS latency / TCP RTT / dropped packets (DNS, RTT, DROPS show while a row has one)");
  expect(help).toContain(" " + "  or DNS, RTT, drops: dropped  drop:netfilter  rcode:nxdomain  dns:example.com  dns>50  rtt>100  rtt<5 (ms)");
});
