/**
 * Per-interface accounting and its self-check against the kernel's counters,
 * with the attached list and the counters given by the test: the first
 * sample is a baseline, flows of that eviction are not compared, and an
 * interface that goes, is renamed or whose counters go back starts again.
 */
import { expect, test } from "bun:test";
import { accountingRatio, InterfaceAccounting } from "../../src/agent/interface-accounting.ts";
import type { DevicePacketCounters } from "../../src/bpf/interfaces.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { udpFlow } from "../api/flow-fixtures.ts";

function setup() {
  let attached = [{ ifindex: 7, name: "veth-a" }];
  const counters = new Map<string, DevicePacketCounters>([["veth-a", { rxPackets: 1000, txPackets: 2000 }]]);
  const accounting = new InterfaceAccounting(() => attached, (name) => counters.get(name) && { ...counters.get(name)! });
  return {
    accounting,
    counters,
    attach: (list: typeof attached) => (attached = list),
    /** The kernel counts packets on veth-a. */
    count: (rx: number, tx: number, name = "veth-a") => {
      const c = counters.get(name)!;
      counters.set(name, { rxPackets: c.rxPackets + rx, txPackets: c.txPackets + tx });
    },
    /** One eviction: the sample at the swap, then its flows. */
    evict: (flows: { ingress?: number; egress?: number; ifindex?: number; interface?: string }) => {
      accounting.sample();
      const records = [];
      if (flows.ingress) records.push(udpFlow({ direction: "ingress", ifindex: flows.ifindex ?? 7, packets: flows.ingress, bytes: flows.ingress * 100 }));
      if (flows.egress) records.push(udpFlow({ direction: "egress", ifindex: flows.ifindex ?? 7, packets: flows.egress, bytes: flows.egress * 142 }));
      accounting.add(FlowColumns.fromRecords(records));
    },
  };
}

test("traffic before the first sample is accounted but not compared; after it, accounted against the counters' delta", () => {
  const { accounting, count, evict } = setup();
  // Attached, then traffic before the first eviction: the kernel's counters already hold more (before the attach).
  count(5, 6);
  evict({ ingress: 5, egress: 6 });
  expect(accounting.entries()).toEqual([
    { name: "veth-a", ifindex: 7, direction: "ingress", packets: 5, bytes: 500, checkedPackets: 0, kernelPackets: 0 },
    { name: "veth-a", ifindex: 7, direction: "egress", packets: 6, bytes: 852, checkedPackets: 0, kernelPackets: 0 },
  ]);
  expect(accounting.entries().map(accountingRatio)).toEqual([undefined, undefined]);
  count(100, 40);
  evict({ ingress: 100, egress: 40 });
  count(0, 10);
  evict({ egress: 10 });
  expect(accounting.entries()).toEqual([
    { name: "veth-a", ifindex: 7, direction: "ingress", packets: 105, bytes: 10_500, checkedPackets: 100, kernelPackets: 100 },
    { name: "veth-a", ifindex: 7, direction: "egress", packets: 56, bytes: 56 * 142, checkedPackets: 50, kernelPackets: 50 },
  ]);
  expect(accounting.entries().map(accountingRatio)).toEqual([1, 1]);
});

test("a packet counted by the kernel before a sample and hooked after it moves to the next interval: the ratio recovers", () => {
  const { accounting, count, evict } = setup();
  evict({});
  count(10, 0); // rx counts before the ingress hook runs
  evict({ ingress: 9 });
  expect(accountingRatio(accounting.entries()[0]!)).toBe(0.9);
  evict({ ingress: 1 });
  expect(accountingRatio(accounting.entries()[0]!)).toBe(1);
});

test("GSO on a veth: more packets accounted (segments) than the device counted (skbs)", () => {
  const { accounting, count, evict } = setup();
  evict({});
  count(0, 10);
  evict({ egress: 40 });
  expect(accountingRatio(accounting.entries()[1]!)).toBe(4);
});

test("detached: gone from the report; renamed or counters gone back: a new baseline", () => {
  const { accounting, counters, attach, count, evict } = setup();
  evict({});
  count(3, 3);
  evict({ ingress: 3, egress: 3 });
  // Renamed: detached and attached again under the new name, totals start again.
  counters.set("veth-x", counters.get("veth-a")!);
  attach([{ ifindex: 7, name: "veth-x" }]);
  count(2, 2, "veth-x");
  evict({ ingress: 2, egress: 2 });
  expect(accounting.entries().map((e) => [e.name, e.packets, e.checkedPackets, e.kernelPackets])).toEqual([
    ["veth-x", 2, 0, 0],
    ["veth-x", 2, 0, 0],
  ]);
  // Replaced under the same name and ifindex: its counters start from 0 again.
  counters.set("veth-x", { rxPackets: 1, txPackets: 1 });
  evict({ ingress: 1, egress: 1 });
  count(4, 4, "veth-x");
  evict({ ingress: 4, egress: 4 });
  expect(accounting.entries().map((e) => [e.packets, e.checkedPackets, e.kernelPackets])).toEqual([
    [7, 4, 4],
    [7, 4, 4],
  ]);
  // Detached: its last flows are folded, then it leaves the report; flows of an interface never sampled are ignored.
  attach([]);
  evict({ ingress: 1 });
  evict({ ingress: 5, ifindex: 9 });
  expect(accounting.entries()).toEqual([]);
});

test("sampled flows count N times their packets and bytes: the check compares estimates", () => {
  const { accounting, count } = setup();
  accounting.sample();
  accounting.add(FlowColumns.fromRecords([]));
  count(100_000, 0);
  accounting.sample();
  accounting.add(FlowColumns.fromRecords([udpFlow({ direction: "ingress", ifindex: 7, packets: 1003, bytes: 100_300, sampling: 100 })]));
  const ingress = accounting.entries().find((e) => e.direction === "ingress")!;
  expect(ingress).toMatchObject({ packets: 100_300, bytes: 10_030_000, checkedPackets: 100_300, kernelPackets: 100_000 });
  expect(accountingRatio(ingress)).toBeCloseTo(1.003, 6);
});
