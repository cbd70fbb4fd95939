import { describe, expect, test } from "bun:test";
import { filterFlows } from "../../../src/tui/model/flow-filter.ts";
import { stat } from "../flow-fixtures.ts";

const flows = [
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40001, dstPort: 5001, bytes: 1, packets: 1 }),
  stat({ src: "198.18.0.2", dst: "198.18.0.1", srcPort: 5001, dstPort: 40001, bytes: 1, packets: 1, direction: "ingress" }),
  stat({ src: "fd00::1", dst: "fd00::2", srcPort: 40002, dstPort: 443, protocol: 6, bytes: 1, packets: 1, iface: "eth1" }),
];
const names: Record<string, string> = { "fd00::2": "web.example.test" };
const matching = (filter: string) => filterFlows(flows, filter, (a) => names[a]).map((f) => flows.indexOf(f));

describe("filterFlows", () => {
  test("an empty filter keeps everything", () => {
    expect(matching("")).toEqual([0, 1, 2]);
    expect(matching("   ")).toEqual([0, 1, 2]);
  });

  test("a port matches either port exactly", () => {
    expect(matching("5001")).toEqual([0, 1]);
    expect(matching("443")).toEqual([2]);
    expect(matching("44")).toEqual([]);
  });

  test("protocol, interface, direction, case-insensitive", () => {
    expect(matching("tcp")).toEqual([2]);
    expect(matching("UDP")).toEqual([0, 1]);
    expect(matching("eth1")).toEqual([2]);
    expect(matching("eth")).toEqual([0, 1, 2]);
    expect(matching("in")).toEqual([1]);
  });

  test("part of an address or of a resolved name", () => {
    expect(matching("198.18.0.2")).toEqual([0, 1]);
    expect(matching("fd00:")).toEqual([2]);
    expect(matching("web.example")).toEqual([2]);
    expect(filterFlows(flows, "web.example").length).toBe(0);
  });

  test("every word must match", () => {
    expect(matching("udp in")).toEqual([1]);
    expect(matching("udp 443")).toEqual([]);
  });
});
