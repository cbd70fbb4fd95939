import { describe, expect, test } from "bun:test";
import { groupFlows } from "../../../src/tui/model/group-flows.ts";
import { barValue, columnsFor, sortColumnFor, sortRows } from "../../../src/tui/model/sort-rows.ts";
import { stat } from "../flow-fixtures.ts";

const rows = groupFlows(
  [
    stat({ src: "198.18.0.10", dst: "198.18.0.2", srcPort: 1, dstPort: 53, bytes: 500, packets: 5 }, [10, 30, 30]),
    stat({ src: "198.18.0.2", dst: "198.18.0.3", srcPort: 2, dstPort: 53, bytes: 900, packets: 1, protocol: 6, tcpFlags: 2 }, [20, 20, 20]),
    stat({ src: "198.18.0.9", dst: "198.18.0.1", srcPort: 3, dstPort: 53, bytes: 100, packets: 9, iface: "eth1" }, [20, 10, 40]),
  ],
  "flow",
);
const order = (column: Parameters<typeof sortRows>[1], reverse = false) => sortRows(rows, column, reverse).map((r) => r.flow!.id.srcAddr);

describe("sortRows", () => {
  test("numbers sort largest first, reversed smallest first", () => {
    expect(order("bytes")).toEqual(["198.18.0.2", "198.18.0.10", "198.18.0.9"]);
    expect(order("bytes", true)).toEqual(["198.18.0.9", "198.18.0.10", "198.18.0.2"]);
    expect(order("packets")).toEqual(["198.18.0.9", "198.18.0.10", "198.18.0.2"]);
    expect(order("10s")).toEqual(["198.18.0.10", "198.18.0.2", "198.18.0.9"]);
    expect(order("40s")).toEqual(["198.18.0.9", "198.18.0.10", "198.18.0.2"]);
  });

  test("ties fall back to the row key, so equal rows keep one order", () => {
    // 2s: .2 and .9 both 20; their keys start with ifindex 2 (eth0) and 3 (eth1).
    expect(order("2s")).toEqual(["198.18.0.2", "198.18.0.9", "198.18.0.10"]);
  });

  test("text sorts A to Z with numbers in numeric order, reversed Z to A", () => {
    expect(order("source")).toEqual(["198.18.0.2", "198.18.0.9", "198.18.0.10"]);
    expect(order("source", true)).toEqual(["198.18.0.10", "198.18.0.9", "198.18.0.2"]);
    expect(order("destination")).toEqual(["198.18.0.9", "198.18.0.10", "198.18.0.2"]);
    expect(order("protocol")).toEqual(["198.18.0.2", "198.18.0.10", "198.18.0.9"]);
    expect(order("interface", true)).toEqual(["198.18.0.9", "198.18.0.2", "198.18.0.10"]);
  });

  test("columns per grouping, and the sort column after a grouping change", () => {
    expect(columnsFor("flow")).toEqual(["interface", "direction", "protocol", "source", "destination", "2s", "10s", "40s", "bytes", "packets", "dns", "rtt", "drops", "flags"]);
    expect(columnsFor("port")).toEqual(["group", "flows", "protocol", "2s", "10s", "40s", "bytes", "packets", "dns", "rtt", "drops", "flags"]);
    expect(sortColumnFor("port", "source")).toBe("group");
    expect(sortColumnFor("port", "bytes")).toBe("bytes");
    expect(sortColumnFor("flow", "group")).toBe("source");
    expect(sortColumnFor("flow", "flows")).toBe("2s");
  });

  test("the bar follows the sort column when it is a figure, else the 2 s rate", () => {
    const row = rows[0]!;
    expect(barValue(row, "bytes")).toBe(500);
    expect(barValue(row, "10s")).toBe(30);
    expect(barValue(row, "source")).toBe(10);
    expect(barValue(row, "flags")).toBe(10);
  });
});
