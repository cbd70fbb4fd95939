import { describe, expect, test } from "bun:test";
import { groupFlows, servicePort } from "../../../src/tui/model/group-flows.ts";
import { stat } from "../flow-fixtures.ts";

const flows = [
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40001, dstPort: 5001, bytes: 1000, packets: 10 }, [100, 50, 20]),
  stat({ src: "198.18.0.2", dst: "198.18.0.1", srcPort: 5001, dstPort: 40001, bytes: 200, packets: 2, direction: "ingress" }, [10, 5, 2]),
  stat({ src: "198.18.0.1", dst: "198.18.0.3", srcPort: 40002, dstPort: 443, protocol: 6, tcpFlags: 0x12, bytes: 64, packets: 1, iface: "eth1" }, [1, 1, 1]),
];

const summary = (grouping: Parameters<typeof groupFlows>[1]) =>
  groupFlows(flows, grouping).map((r) => [r.key, r.flows, r.bytes, r.packets, r.protocols.join(","), r.tcpFlags, r.rates.bytes]);

describe("groupFlows", () => {
  test("by flow: one row per flow, carrying it", () => {
    const rows = groupFlows(flows, "flow");
    expect(rows.length).toBe(3);
    expect(rows.map((r) => r.flow)).toEqual(flows);
  });

  test("by host pair: both directions in one row, addresses in text order", () => {
    expect(summary("host-pair")).toEqual([
      ["198.18.0.1 198.18.0.2", 2, 1200, 12, "UDP", 0, [110, 55, 22]],
      ["198.18.0.1 198.18.0.3", 1, 64, 1, "TCP", 0x12, [1, 1, 1]],
    ]);
  });

  test("by source and by destination", () => {
    expect(summary("source").map((r) => [r[0], r[1], r[2]])).toEqual([["198.18.0.1", 2, 1064], ["198.18.0.2", 1, 200]]);
    expect(summary("destination").map((r) => [r[0], r[1], r[2]])).toEqual([["198.18.0.2", 1, 1000], ["198.18.0.1", 1, 200], ["198.18.0.3", 1, 64]]);
  });

  test("by port: protocol and the lower port, so requests and replies meet", () => {
    expect(summary("port").map((r) => [r[0], r[1], r[2]])).toEqual([["UDP/5001", 2, 1200], ["TCP/443", 1, 64]]);
    expect(servicePort(stat({ src: "198.18.0.1", dst: "198.18.0.2", bytes: 0, packets: 0, protocol: 1 }))).toBe(0);
  });

  test("by interface and by protocol", () => {
    expect(summary("interface").map((r) => [r[0], r[1], r[2], r[4]])).toEqual([["eth0", 2, 1200, "UDP"], ["eth1", 1, 64, "TCP"]]);
    expect(summary("protocol").map((r) => [r[0], r[1], r[2]])).toEqual([["UDP", 2, 1200], ["TCP", 1, 64]]);
  });
});
