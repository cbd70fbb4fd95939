/**
 * The attacher's bookkeeping under churn, with the interface list injected
 * (nothing is attached, so nothing touches the kernel): names of vanished
 * interfaces are kept for the flows still to be exported, and no more than
 * VANISHED_NAMES_KEPT of them; a device left alone is looked at again when
 * another device takes its ifindex. Attaching under churn is tested end to
 * end (test/e2e/interface-churn.test.ts).
 */
import { expect, test } from "bun:test";
import { InterfaceAttacher, VANISHED_NAMES_KEPT } from "../../src/agent/interface-attacher.ts";
import type { NetInterface } from "../../src/bpf/interfaces.ts";
import { createLogger } from "../../src/log.ts";

const noPrograms = {
  programsFor: () => {
    throw new Error("nothing is selected: nothing attaches");
  },
};
const quiet = createLogger("error", () => {});
const lo: NetInterface = { ifindex: 1, name: "lo", instance: 1n };

function churned(cycles: number) {
  let present: NetInterface[] = [lo];
  const attacher = new InterfaceAttacher(noPrograms, () => false, "auto", quiet, () => present);
  for (let i = 1; i <= cycles; i++) {
    present = [lo, { ifindex: 100 + i, name: `veth${i}`, instance: BigInt(100 + i) }];
    attacher.reconcile();
  }
  present = [lo];
  attacher.reconcile();
  return attacher;
}

test(`a vanished interface keeps its name among the last ${VANISHED_NAMES_KEPT} to vanish; older ones are forgotten`, () => {
  const attacher = churned(3000);
  expect(attacher.nameOf(1)).toBe("lo");
  expect(attacher.nameOf(100 + 3000)).toBe("veth3000");
  const oldestKept = 3000 - VANISHED_NAMES_KEPT + 1;
  expect(attacher.nameOf(100 + oldestKept)).toBe(`veth${oldestKept}`);
  expect(attacher.nameOf(100 + oldestKept - 1)).toBe(`if${100 + oldestKept - 1}`);
  expect(attacher.nameOf(101)).toBe("if101");
});

test("an ifindex that comes back is named by its present name, and a rename by the new one", () => {
  let present: NetInterface[] = [lo, { ifindex: 5, name: "eth5", instance: 5n }];
  const attacher = new InterfaceAttacher(noPrograms, () => false, "auto", quiet, () => present);
  attacher.reconcile();
  present = [lo];
  attacher.reconcile();
  expect(attacher.nameOf(5)).toBe("eth5");
  present = [lo, { ifindex: 5, name: "pod5", instance: 6n }];
  attacher.reconcile();
  expect(attacher.nameOf(5)).toBe("pod5");
  present = [lo, { ifindex: 5, name: "pod5b", instance: 6n }];
  attacher.reconcile();
  expect(attacher.nameOf(5)).toBe("pod5b");
  present = [lo];
  attacher.reconcile();
  expect(attacher.nameOf(5)).toBe("pod5b");
});

test("a device left alone is not looked at again, unless another device takes its ifindex, even under its name", () => {
  const warnings: string[] = [];
  const log = createLogger("warn", (line) => warnings.push(line));
  let present: NetInterface[] = [lo, { ifindex: 7, name: "can0", instance: 70n }];
  // ARPHRD_CAN (280): neither Ethernet nor L3, so the attacher leaves the device alone without touching the kernel.
  const attacher = new InterfaceAttacher(noPrograms, (name) => name !== "lo", "auto", log, () => present, () => 280);
  attacher.reconcile();
  attacher.reconcile();
  expect(warnings).toEqual(["netflow-agent: warn: left can0 alone: its link type 280 is neither Ethernet nor L3, which the parser reads"]);
  present = [lo, { ifindex: 7, name: "can0", instance: 71n }];
  attacher.reconcile();
  expect(warnings).toHaveLength(2);
});
