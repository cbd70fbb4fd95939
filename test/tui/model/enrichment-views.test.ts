/**
 * `top` with the enrichments (--enable-dns, --enable-rtt, --enable-drops):
 * the flow table keeping each flow's DNS, RTT and summed drops, groups taking
 * the largest latency and RTT and summing drops, sorting by them (rows
 * without one last), the filter's terms on them, and the keys that sort.
 */
import { describe, expect, test } from "bun:test";
import type { FlowDrops } from "../../../src/flow/flow-drops.ts";
import { actionForKey } from "../../../src/tui/keys.ts";
import { filterFlows } from "../../../src/tui/model/flow-filter.ts";
import { FlowTable } from "../../../src/tui/model/flow-table.ts";
import { groupFlows } from "../../../src/tui/model/group-flows.ts";
import { barValue, sortRows } from "../../../src/tui/model/sort-rows.ts";
import { applyAction, initialViewState } from "../../../src/tui/model/view-state.ts";
import { batch, record, stat } from "../flow-fixtures.ts";

const nfDrop = (packets: number, bytes: number, over: Partial<FlowDrops> = {}): FlowDrops => ({ packets, bytes, reason: "NETFILTER_DROP", reasonCode: 6, tcpState: 0, tcpFlags: 0, ...over });
const ms = 1e6;

describe("FlowTable keeps the enrichments", () => {
  const dnsFlow = { src: "198.18.0.2", dst: "198.18.0.1", srcPort: 53, dstPort: 41234, direction: "ingress" as const };
  const tcp = { src: "198.18.0.1", dst: "198.18.0.3", srcPort: 40000, dstPort: 443, protocol: 6 };
  const blocked = { src: "198.18.0.1", dst: "198.18.0.9", srcPort: 40001, dstPort: 80, protocol: 6 };

  test("DNS and RTT: the latest each interval had (kept through intervals without one); drops summed, the latest reason", () => {
    const table = new FlowTable(0);
    table.ingest(batch(1000, [
      record({ ...dnsFlow, bytes: 90, packets: 1, dns: { id: 1, flags: 0x8180, latencyNs: 3 * ms, name: "a.test" } }),
      record({ ...tcp, bytes: 600, packets: 10, rtt: { latestNs: 10 * ms, minNs: 9 * ms, maxNs: 12 * ms }, drops: nfDrop(2, 120) }),
    ]));
    table.ingest(batch(2000, [
      record({ ...dnsFlow, bytes: 90, packets: 1 }),
      record({ ...tcp, bytes: 600, packets: 10, rtt: { latestNs: 20 * ms, minNs: 15 * ms, maxNs: 25 * ms }, drops: nfDrop(3, 180, { reason: "TCP_INVALID_SEQUENCE", reasonCode: 40, tcpState: 1, tcpFlags: 0x10 }) }),
    ]));
    const [d, t] = table.stats(2000);
    expect(d!.dns).toEqual({ id: 1, flags: 0x8180, latencyNs: 3 * ms, name: "a.test" });
    expect(d!.rtt).toBeUndefined();
    expect(d!.drops).toBeUndefined();
    expect(t!.rtt).toEqual({ latestNs: 20 * ms, minNs: 15 * ms, maxNs: 25 * ms });
    expect(t!.drops).toEqual({ packets: 5, bytes: 300, reason: "TCP_INVALID_SEQUENCE", reasonCode: 40, tcpState: 1, tcpFlags: 0x10, lastMs: 2000 });
  });

  test("a drop-only flow (0 packets) is a row with its drops and no traffic", () => {
    const table = new FlowTable(0);
    table.ingest(batch(1000, [record({ ...blocked, bytes: 0, packets: 0, drops: nfDrop(4, 240) })]));
    const [s] = table.stats(1000);
    expect([s!.packets, s!.bytes, s!.rates.bytes, s!.drops?.packets]).toEqual([0, 0, [0, 0, 0], 4]);
  });

  test("drops are never scaled by a flow's sampling", () => {
    const table = new FlowTable(0);
    table.ingest(batch(1000, [{ ...record({ ...tcp, bytes: 100, packets: 1, drops: nfDrop(2, 120) }), sampling: 10 }]));
    const [s] = table.stats(1000);
    expect([s!.packets, s!.drops?.packets, s!.drops?.bytes]).toEqual([10, 2, 120]);
  });
});

const flows = [
  // 0: a DNS response, 40 ms, NXDOMAIN
  stat({ src: "198.18.0.2", dst: "198.18.0.1", srcPort: 53, dstPort: 41234, bytes: 90, packets: 1, direction: "ingress", dns: { id: 7, flags: 0x8183, latencyNs: 40 * ms, name: "nosuch.example.test" } }, [45, 9, 2]),
  // 1: a DNS response, 2 ms, NOERROR
  stat({ src: "198.18.0.2", dst: "198.18.0.1", srcPort: 53, dstPort: 41235, bytes: 120, packets: 1, direction: "ingress", dns: { id: 8, flags: 0x8180, latencyNs: 2 * ms, name: "www.example.test" } }, [60, 12, 3]),
  // 2: a TCP connection, RTT max 150 ms, with drops (latest at 3000)
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40000, dstPort: 443, protocol: 6, bytes: 5000, packets: 40, endMs: 3000, rtt: { latestNs: 90 * ms, minNs: 80 * ms, maxNs: 150 * ms }, drops: nfDrop(3, 180, { reason: "TCP_INVALID_SEQUENCE", reasonCode: 40, tcpState: 1, tcpFlags: 0x10 }) }, [2500, 500, 125]),
  // 3: a TCP connection, RTT max 1 ms, no drops
  stat({ src: "198.18.0.1", dst: "198.18.0.3", srcPort: 40001, dstPort: 22, protocol: 6, bytes: 800, packets: 10, rtt: { latestNs: 0.5 * ms, minNs: 0.4 * ms, maxNs: 1 * ms } }, [400, 80, 20]),
  // 4: drop-only, to the same host pair as 2 (latest at 2000)
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40002, dstPort: 80, protocol: 6, bytes: 0, packets: 0, endMs: 2000, drops: nfDrop(7, 420) }),
  // 5: plain traffic
  stat({ src: "198.18.0.5", dst: "198.18.0.6", srcPort: 1, dstPort: 2, bytes: 10, packets: 1 }, [5, 1, 0]),
];

describe("groups", () => {
  test("by flow: each row carries its flow's DNS latency, RTT maximum and drops", () => {
    const rows = groupFlows(flows, "flow");
    expect(rows.map((r) => [r.dnsLatencyNs, r.rttNs, r.drops?.packets])).toEqual([
      [40 * ms, undefined, undefined],
      [2 * ms, undefined, undefined],
      [undefined, 150 * ms, 3],
      [undefined, 1 * ms, undefined],
      [undefined, undefined, 7],
      [undefined, undefined, undefined],
    ]);
  });

  test("by host pair: drops summed with the latest drop's reason, the largest DNS latency and RTT", () => {
    const rows = groupFlows(flows, "host-pair");
    const pair = rows.find((r) => r.key === "198.18.0.1 198.18.0.2")!;
    expect(pair.flows).toBe(4);
    expect(pair.dnsLatencyNs).toBe(40 * ms);
    expect(pair.rttNs).toBe(150 * ms);
    expect(pair.drops).toEqual({ packets: 10, bytes: 600, reason: "TCP_INVALID_SEQUENCE", reasonCode: 40, tcpState: 1, tcpFlags: 0x10, lastMs: 3000 });
    // The latest is the one dropped last, whatever the order of the flows.
    const reversed = groupFlows([...flows].reverse(), "host-pair").find((r) => r.key === pair.key)!;
    expect(reversed.drops).toEqual(pair.drops);
    const plain = rows.find((r) => r.key === "198.18.0.5 198.18.0.6")!;
    expect([plain.dnsLatencyNs, plain.rttNs, plain.drops]).toEqual([undefined, undefined, undefined]);
  });
});

describe("sorting by DNS latency, RTT and drops", () => {
  const rows = groupFlows(flows, "flow");
  const order = (column: Parameters<typeof sortRows>[1], reverse = false) => sortRows(rows, column, reverse).map((r) => flows.indexOf(r.flow!));

  test("largest first, rows without one last; reversed smallest first, rows without one still last", () => {
    expect(order("dns").slice(0, 2)).toEqual([0, 1]);
    expect(order("dns", true).slice(0, 2)).toEqual([1, 0]);
    expect(order("rtt").slice(0, 2)).toEqual([2, 3]);
    expect(order("rtt", true).slice(0, 2)).toEqual([3, 2]);
    expect(order("drops").slice(0, 2)).toEqual([4, 2]);
    expect(order("drops", true).slice(0, 2)).toEqual([2, 4]);
    // The rest keep the row-key order (the tie-break), in either direction.
    expect(order("drops").slice(2)).toEqual(order("drops", true).slice(2));
    expect(new Set(order("drops").slice(2))).toEqual(new Set([0, 1, 3, 5]));
  });

  test("the bar follows the figure, 0 for a row without one", () => {
    expect(rows.map((r) => barValue(r, "drops"))).toEqual([0, 0, 3, 0, 7, 0]);
    expect(barValue(rows[0]!, "dns")).toBe(40 * ms);
    expect(barValue(rows[2]!, "rtt")).toBe(150 * ms);
  });

  test("keys l, t, d sort by them; < and > walk through them", () => {
    const state = initialViewState();
    expect(["l", "t", "d"].map((k) => actionForKey(k, state))).toEqual([
      { type: "sort-by", column: "dns" },
      { type: "sort-by", column: "rtt" },
      { type: "sort-by", column: "drops" },
    ]);
    let s = initialViewState({ sort: "packets" });
    const walked: string[] = [];
    for (let i = 0; i < 4; i++) walked.push((s = applyAction(s, { type: "sort-step", by: 1 }, [], 10)).sort);
    expect(walked).toEqual(["dns", "rtt", "drops", "flags"]);
    // Grouping keeps them.
    expect(applyAction(initialViewState({ sort: "rtt" }), { type: "group-step", by: 1 }, [], 10)).toMatchObject({ grouping: "host-pair", sort: "rtt" });
  });
});

describe("filter terms on the enrichments", () => {
  const matching = (filter: string) => filterFlows(flows, filter).map((f) => flows.indexOf(f));

  test("dropped, drop:<part of the reason>", () => {
    expect(matching("dropped")).toEqual([2, 4]);
    expect(matching("drop:netfilter")).toEqual([4]);
    expect(matching("drop:TCP_INVALID")).toEqual([2]);
    expect(matching("drop:")).toEqual([2, 4]);
    expect(matching("drop:no_socket")).toEqual([]);
  });

  test("rcode:<name, or part of it>, dns:<part of the name>", () => {
    expect(matching("rcode:nxdomain")).toEqual([0]);
    expect(matching("rcode:NOERR")).toEqual([1]);
    expect(matching("rcode:servfail")).toEqual([]);
    expect(matching("dns:www")).toEqual([1]);
    expect(matching("dns:example.test")).toEqual([0, 1]);
  });

  test("dns>N, dns<N, rtt>N, rtt<N in ms (RTT: the interval's maximum); a comparison without its number yet: any with the field", () => {
    expect(matching("dns>10")).toEqual([0]);
    expect(matching("dns<10")).toEqual([1]);
    expect(matching("dns>1.5ms")).toEqual([0, 1]);
    expect(matching("dns>")).toEqual([0, 1]);
    expect(matching("rtt>100")).toEqual([2]);
    expect(matching("rtt<100")).toEqual([3]); // latest 90 ms, but its maximum is 150
    expect(matching("rtt>0.5")).toEqual([2, 3]);
    expect(matching("rtt>")).toEqual([2, 3]);
  });

  test("with other words, AND; flows without the field match none", () => {
    expect(matching("dropped 443")).toEqual([2]);
    expect(matching("rtt>0 dropped")).toEqual([2]);
    expect(matching("rcode:nxdomain tcp")).toEqual([]);
  });
});
