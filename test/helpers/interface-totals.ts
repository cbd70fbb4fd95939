/**
 * Flows against the interface's own counters. On a veth the receiving end's
 * rx counters move when the peer transmits, before the receiver's TC ingress
 * hook has run (that runs in softirq, which a loaded machine defers to
 * ksoftirqd); and flows reach the test only at an eviction. So a test waits
 * until the flows printed so far add up to the counters, rather than sleeping
 * and hoping the last packets are through.
 */
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { counterDelta, type Host, type InterfaceCounters, type VethPair } from "./netns.ts";
import { waitFor } from "./wait-for.ts";

export interface DirectionTotals {
  egress: { packets: number; bytes: number };
  ingress: { packets: number; bytes: number };
}

/** Packets and bytes of the flows on `ifname`, per direction. */
export function flowTotals(flows: FlowJson[], ifname: string): DirectionTotals {
  const totals: DirectionTotals = { egress: { packets: 0, bytes: 0 }, ingress: { packets: 0, bytes: 0 } };
  for (const f of flows) {
    if (f.interface !== ifname) continue;
    const side = f.direction === "egress" ? totals.egress : totals.ingress;
    side.packets += f.packets;
    side.bytes += f.bytes;
  }
  return totals;
}

/** The interface's counters since `before`, in the same shape (tx is egress, rx ingress). */
export function counterTotals(before: InterfaceCounters, after: InterfaceCounters): DirectionTotals {
  const delta = counterDelta(before, after);
  return { egress: { packets: delta.txPackets, bytes: delta.txBytes }, ingress: { packets: delta.rxPackets, bytes: delta.rxBytes } };
}

/**
 * Waits until the flows `flows()` returns (what the agent has printed so
 * far) add up, per direction, to what `host`'s interface counted since
 * `before`: every packet that crossed it has been through the hooks and
 * evicted. An agent that loses or adds packets never gets there and fails
 * with both totals.
 */
export async function waitForFlowsToMatchCounters(pair: VethPair, host: Host, before: InterfaceCounters, flows: () => FlowJson[]) {
  let last: { flows: DirectionTotals; counters: DirectionTotals } | undefined;
  await waitFor(
    `the flows on ${host.ifname} to add up to its counters`,
    () => {
      last = { flows: flowTotals(flows(), host.ifname), counters: counterTotals(before, pair.counters(host)) };
      return JSON.stringify(last.flows) === JSON.stringify(last.counters);
    },
    { everyMs: 100, state: () => last },
  );
}
