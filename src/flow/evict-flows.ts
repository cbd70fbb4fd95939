/**
 * Eviction: hand the kernel a fresh map, then read the old one out whole.
 *
 * 1. flip active_slot, so new packets land in the other flows map;
 * 2. wait out programs that read the old slot before the flip (a TC program
 *    runs to completion with bottom halves disabled, microseconds at most;
 *    the grace period is milliseconds);
 * 3. drain the old map with lookup_and_delete_batch, merge per-CPU values,
 *    convert times with one clock reading;
 * 4. fold in packets that came through the overflow ring buffer.
 * No in-place update can race with the deletion, so nothing is lost.
 */
import { FlowMapDrainer } from "../bpf/flow-maps.ts";
import { FLOW_EVENT } from "../bpf/flow-layout.ts";
import type { FlowObject } from "../bpf/flow-object.ts";
import { monotonicNs, ringBufferOpen, type RingBufferReader } from "../bpf/libbpf.ts";
import { monotonicToWallOffsetMs, type Clock } from "./clock.ts";
import { decodeFlows, mergeFlows, OverflowFolder, type InterfaceNamer } from "./decode-flows.ts";
import type { FlowBatch } from "./flow-record.ts";

export const systemClock: Clock = { wallMs: () => Date.now(), monotonicNs };

export interface EvictorOptions {
  names: InterfaceNamer;
  clock?: Clock;
  /** Wait after a flip before the old map is read (ms). */
  graceMs?: number;
}

export class FlowEvictor implements Disposable {
  private slot: 0 | 1 = 0;
  private readonly drainer: FlowMapDrainer;
  private readonly overflow: RingBufferReader;
  private readonly folder: OverflowFolder;
  private readonly clock: Clock;
  private readonly graceMs: number;
  private running: Promise<FlowBatch> | undefined;
  private offsetMs: number | undefined;
  private readonly names: InterfaceNamer;

  constructor(private readonly object: FlowObject, options: EvictorOptions) {
    this.clock = options.clock ?? systemClock;
    this.graceMs = options.graceMs ?? 10;
    this.drainer = new FlowMapDrainer(object.cpus);
    this.folder = new OverflowFolder(options.names);
    this.names = options.names;
    object.setActiveSlot(0);
    this.overflow = ringBufferOpen(object.overflowFd, FLOW_EVENT.size, (event) => {
      // Read the clocks once per drain, and only when there is something to convert.
      this.offsetMs ??= monotonicToWallOffsetMs(this.clock);
      this.folder.add(event, this.offsetMs);
    });
  }

  /** Reads the overflow ring buffer now (call on a short timer so it never fills). */
  drainOverflow(): number {
    this.offsetMs = undefined;
    return this.overflow.consume();
  }

  /**
   * Evicts every flow accounted so far. Calls are serialized. `final`: the
   * programs are detached, so both maps are drained — whatever a program
   * wrote to the old map after the grace period (a vCPU stalled longer than
   * it, say) is still counted, at the latest here.
   */
  evict({ final = false } = {}): Promise<FlowBatch> {
    const previous = this.running ?? Promise.resolve();
    const next = previous.then(
      () => this.evictOnce(final),
      () => this.evictOnce(final),
    );
    this.running = next;
    return next;
  }

  private async evictOnce(final: boolean): Promise<FlowBatch> {
    const old = this.slot;
    this.slot = old === 0 ? 1 : 0;
    this.object.setActiveSlot(this.slot);
    await Bun.sleep(this.graceMs);

    const started = performance.now();
    const offsetMs = monotonicToWallOffsetMs(this.clock);
    const records = decodeFlows(this.drainer.drain(this.object.flowsFds[old]), this.object.cpus, offsetMs, this.names);
    // Packets that reached the old map late, and so missed the last drain, are in the active one.
    if (final) mergeFlows(records, decodeFlows(this.drainer.drain(this.object.flowsFds[this.slot]), this.object.cpus, offsetMs, this.names));
    this.drainOverflow();
    mergeFlows(records, this.folder.take());
    return {
      records,
      evictedAtMs: this.clock.wallMs(),
      evictionMs: performance.now() - started,
      counters: this.object.readCounters(),
    };
  }

  close() {
    this.overflow.close();
  }

  [Symbol.dispose]() {
    this.close();
  }
}
