/**
 * Per interface and direction: what the agent accounted, and the self-check
 * of that against the kernel's own interface counters.
 *
 * At every eviction, right after the flows map is swapped (evict-flows.ts),
 * `sample()` reads rx_packets and tx_packets of each attached interface; then
 * `add()` folds that eviction's flows, which hold exactly the packets the
 * hooks saw up to the swap. The self-check compares, from an interface's first
 * sample to its latest, the packets its flows carried with what the kernel
 * counted between those two samples: ingress with rx_packets, egress with
 * tx_packets. The first sample is a baseline: traffic before it (before the
 * attach, and between the attach and that eviction) is not compared, so the
 * ratio says nothing about attach time. Why the two may still differ, and by
 * how much, is in the README ("Accounting self-check").
 *
 * Sampled flows (--sampling, a rule's sample=N) count N times their packets
 * and bytes here: the figures, and the check, are then estimates, whose
 * ratio wanders around 1 by about 1/sqrt(kernel packets / N).
 *
 * An interface leaves the report when it is no longer attached; one that is
 * renamed, or whose counters go backwards (a device replaced under the same
 * ifindex), starts again from a new baseline.
 */
import type { DevicePacketCounters } from "../bpf/interfaces.ts";
import type { FlowColumns } from "../flow/flow-columns.ts";

export type Direction = "ingress" | "egress";

/** One interface in one direction. */
export interface InterfaceAccountingEntry {
  name: string;
  ifindex: number;
  direction: Direction;
  /** Packets and bytes of its flows since it was attached (every eviction since); sampled flows count N times theirs. */
  packets: number;
  bytes: number;
  /** Self-check: packets of its flows between its first sample and its latest. */
  checkedPackets: number;
  /** What the kernel counted between the same two samples: rx_packets (ingress) or tx_packets (egress). */
  kernelPackets: number;
}

/** checkedPackets / kernelPackets; undefined while the kernel counted nothing (no interval to compare). */
export function accountingRatio(entry: Pick<InterfaceAccountingEntry, "checkedPackets" | "kernelPackets">): number | undefined {
  return entry.kernelPackets > 0 ? entry.checkedPackets / entry.kernelPackets : undefined;
}

interface Tracked {
  name: string;
  ifindex: number;
  /** [ingress, egress], as enum flow_direction numbers them. */
  packets: [number, number];
  bytes: [number, number];
  checked: [number, number];
  baseline: DevicePacketCounters | undefined;
  latest: DevicePacketCounters | undefined;
  /** The latest sample followed an earlier one: the flows of this eviction count in the check. */
  checking: boolean;
}

export class InterfaceAccounting {
  private readonly tracked = new Map<number, Tracked>();
  private attachedAtSample = new Set<number>();

  constructor(
    /** The interfaces attached now. */
    private readonly attached: () => readonly { ifindex: number; name: string }[],
    /** The kernel's counters of a device; undefined if it vanished. */
    private readonly readCounters: (name: string) => DevicePacketCounters | undefined,
  ) {}

  /** At the swap of an eviction: reads the kernel's counters of every attached interface. */
  sample() {
    const now = new Set<number>();
    for (const { ifindex, name } of this.attached()) {
      now.add(ifindex);
      let t = this.tracked.get(ifindex);
      if (t && t.name !== name) t = undefined; // renamed, so detached and attached again: a new interface
      const counters = this.readCounters(name);
      if (!t) {
        t = { name, ifindex, packets: [0, 0], bytes: [0, 0], checked: [0, 0], baseline: counters, latest: counters, checking: false };
        this.tracked.set(ifindex, t);
        continue;
      }
      const wentBack = counters && t.latest && (counters.rxPackets < t.latest.rxPackets || counters.txPackets < t.latest.txPackets);
      if (!counters || !t.baseline || wentBack) {
        // No comparable interval: start the check again from this sample.
        t.baseline = t.latest = counters;
        t.checked = [0, 0];
        t.checking = false;
        continue;
      }
      t.latest = counters;
      t.checking = true;
    }
    this.attachedAtSample = now;
  }

  /** The flows of the eviction whose swap was sampled last. Interfaces no longer attached then are dropped after. */
  add(flows: FlowColumns) {
    let last: Tracked | undefined;
    for (let i = 0; i < flows.count; i++) {
      const ifindex = flows.ifindex(i);
      const t = last?.ifindex === ifindex ? last : (last = this.tracked.get(ifindex));
      if (!t) continue; // attached and gone between two evictions
      const d = flows.direction(i) === 1 ? 1 : 0;
      const rate = flows.sampling(i); // 1 unless sampled: then N × the sampled counts estimates the wire
      const packets = flows.packets(i) * rate;
      t.packets[d] += packets;
      t.bytes[d] += flows.bytes(i) * rate;
      if (t.checking) t.checked[d] += packets;
    }
    for (const ifindex of this.tracked.keys()) if (!this.attachedAtSample.has(ifindex)) this.tracked.delete(ifindex);
  }

  /** Every attached interface, ingress then egress, by ifindex. */
  entries(): InterfaceAccountingEntry[] {
    const out: InterfaceAccountingEntry[] = [];
    for (const t of [...this.tracked.values()].sort((a, b) => a.ifindex - b.ifindex)) {
      const kernel: [number, number] =
        t.baseline && t.latest ? [t.latest.rxPackets - t.baseline.rxPackets, t.latest.txPackets - t.baseline.txPackets] : [0, 0];
      (["ingress", "egress"] as const).forEach((direction, d) =>
        out.push({
          name: t.name,
          ifindex: t.ifindex,
          direction,
          packets: t.packets[d]!,
          bytes: t.bytes[d]!,
          checkedPackets: t.checked[d]!,
          kernelPackets: kernel[d]!,
        }),
      );
    }
    return out;
  }
}
