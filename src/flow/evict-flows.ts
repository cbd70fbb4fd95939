/**
 * Eviction: hand the kernel a fresh map, then read the old one out whole.
 *
 * 1. read the kernel's counters (one lookup): the outgoing map's fill and
 *    what spilled to the ring, which size the next map (map-sizing.ts);
 * 2. swap the inner map of `flows` (flow-maps.ts): the kernel returns only
 *    when no program can still write the old map, so what follows is exact;
 * 3. drain the old map with lookup_and_delete_batch into reused rows;
 * 4. read the overflow ring in place and merge its flows into those rows;
 * 5. convert times with one clock reading, and hand out FlowColumns over
 *    the rows (valid until the next eviction).
 * Between evictions, checkFill() (a short timer) reads the counters, reads
 * the ring when it holds records, and says when to evict early.
 */
import type { FlowObject } from "../bpf/flow-object.ts";
import { monotonicNs } from "../bpf/libbpf.ts";
import { OverflowRing } from "../bpf/overflow-ring.ts";
import { monotonicToWallOffsetMs, type Clock } from "./clock.ts";
import { FlowColumns, type InterfaceNamer, type CgroupNamer } from "./flow-columns.ts";
import { DnsJoiner } from "./flow-dns.ts";
import { joinRtt } from "./flow-rtt.ts";
import { DropJoiner } from "./flow-drops.ts";
import type { DropTracer } from "../bpf/drop-maps.ts";
import type { DropReasons } from "../bpf/drop-reasons.ts";
import type { FlowBatch, KernelCounters } from "./flow-record.ts";
import { FlowRows, wallTimes } from "./flow-rows.ts";
import { MapSizing, type MapSizingOptions } from "./map-sizing.ts";
import { OverflowFlows } from "./overflow-flows.ts";

export const systemClock: Clock = { wallMs: () => Date.now(), monotonicNs };

export interface EvictorOptions {
  names: InterfaceNamer;
  /** Cgroup paths and container ids of the flows' owners (process attribution); none: not resolved. */
  cgroups?: CgroupNamer;
  sizing: MapSizingOptions;
  clock?: Clock;
  /**
   * Called right after the swap (after the detach, for the final eviction):
   * the moment that divides this eviction's packets from the next one's, when
   * the interface counters are read for the accounting self-check.
   */
  afterSwap?: () => void;
  /** --enable-drops: the drop tracer (drained after the flows, joined to them) and the running kernel's reason names. */
  drops?: { tracer: DropTracer; reasons: DropReasons; watched?: (ifindex: number) => boolean };
}

/** What a fill check saw. */
export interface FillState {
  /** Flows inserted into the active map since it was installed (an upper bound). */
  fill: number;
  capacity: number;
  /** Evict now: the map is near full, or packets spill to the ring. */
  evictNow: boolean;
}

export class FlowEvictor implements Disposable {
  private readonly rows = new FlowRows();
  private readonly overflow = new OverflowFlows();
  private readonly ring: OverflowRing;
  private readonly sizing: MapSizing;
  private readonly clock: Clock;
  private readonly fold: (words: Uint32Array, at: number) => void;
  private startMs = new Float64Array(0);
  private endMs = new Float64Array(0);
  private running: Promise<FlowBatch> | undefined;
  /** Counter values when the active map was installed. */
  private insertedAtSwap = 0;
  private spilledAtSwap = 0;
  /** ringbuf_packets when the ring was last read. */
  private ringRead = 0;
  private readonly counts = { resizes: 0, earlyEvictions: 0, rttConnections: 0, rttFlows: 0, dropOnlyFlows: 0 };
  private readonly dns = new DnsJoiner();
  private readonly drops: DropJoiner | undefined;

  constructor(
    private readonly object: FlowObject,
    private readonly options: EvictorOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.sizing = new MapSizing(options.sizing);
    this.ring = new OverflowRing(object.overflowFd, object.overflowBytes);
    this.drops = options.drops && new DropJoiner(options.drops.reasons, options.drops.watched);
    this.fold = (words, at) => this.overflow.add(words, at);
    const counters = object.readCounters();
    this.insertedAtSwap = counters.flowsInserted;
    this.spilledAtSwap = this.ringRead = counters.ringbufPackets;
  }

  /** The first map's size (FlowObject.load installs it before attaching). */
  static initialCapacity(sizing: MapSizingOptions): number {
    return new MapSizing(sizing).initial();
  }

  get resizes(): number {
    return this.counts.resizes;
  }
  get earlyEvictions(): number {
    return this.counts.earlyEvictions;
  }
  /** --enable-rtt: connections' RTT records drained (every namespace's), summed over evictions: one active over n intervals counts n times. */
  get rttConnections(): number {
    return this.counts.rttConnections;
  }
  /** --enable-rtt: flows that carried an RTT, summed over evictions. */
  get rttFlows(): number {
    return this.counts.rttFlows;
  }
  /** --enable-drops: drop-only flows appended (drops no TC hook saw), summed over evictions. */
  /** --enable-drops: dropped packets on devices the agent does not capture on, left out of the flows. */
  get dropsOnUnwatchedDevices(): number {
    return this.drops?.unwatchedPackets ?? 0;
  }

  get dropOnlyFlows(): number {
    return this.counts.dropOnlyFlows;
  }

  /** One counters read; reads the ring if packets went to it since the last read. */
  checkFill(counters: KernelCounters = this.object.readCounters()): FillState {
    if (counters.ringbufPackets > this.ringRead) this.drainOverflow(counters);
    const capacity = this.object.flowMaps.active.capacity;
    const fill = counters.flowsInserted - this.insertedAtSwap;
    const spilled = counters.ringbufPackets - this.spilledAtSwap;
    return { fill, capacity, evictNow: this.sizing.evictEarly(fill, capacity, spilled) };
  }

  /** Folds what the ring holds now into the pending overflow flows. */
  drainOverflow(counters?: KernelCounters): number {
    const folded = this.ring.consume(this.fold);
    if (counters) this.ringRead = counters.ringbufPackets;
    return folded;
  }

  /**
   * Evicts every flow accounted so far. Calls are serialized. `early`: asked
   * by a fill check (the next map grows). `final`: the programs are
   * detached, so the active map is drained in place, no swap.
   */
  evict({ final = false, early = false } = {}): Promise<FlowBatch> {
    const previous = this.running ?? Promise.resolve();
    const next = previous.then(
      () => this.evictOnce(final, early),
      () => this.evictOnce(final, early),
    );
    this.running = next;
    return next;
  }

  private async evictOnce(final: boolean, early: boolean): Promise<FlowBatch> {
    const started = performance.now();
    const maps = this.object.flowMaps;
    const before = this.object.readCounters();
    const fill = before.flowsInserted - this.insertedAtSwap;
    const spilled = before.ringbufPackets - this.spilledAtSwap;
    this.rows.clear();
    if (final) {
      this.afterSwap();
      maps.drain(maps.active, this.rows);
    } else {
      const capacity = this.sizing.next(maps.active.capacity, fill, spilled, early);
      if (capacity !== maps.active.capacity) this.counts.resizes++;
      if (early) this.counts.earlyEvictions++;
      // Counted before the swap: inserts during its grace period land in either map, and an
      // over-estimate of the new map's fill is the safe side.
      this.insertedAtSwap = before.flowsInserted;
      this.spilledAtSwap = before.ringbufPackets;
      const old = maps.swap(capacity);
      this.afterSwap();
      maps.drain(old, this.rows);
      maps.recycle(old);
    }
    this.ring.consume(this.fold);
    this.ringRead = before.ringbufPackets;
    this.overflow.mergeInto(this.rows);
    // After the flows' swap: a packet is dropped after TC counted it, so its flow is in these rows or the next
    // map's. May append drop-only rows (drops no TC hook saw), so before the row count is taken.
    const flowRows = this.rows.count;
    const drops = this.drops && this.drops.join(this.options.drops!.tracer.drain(), this.rows, final);
    this.counts.dropOnlyFlows += this.rows.count - flowRows;

    const count = this.rows.count;
    this.rows.settle(count);
    if (this.startMs.length < count || this.startMs.length > 4 * Math.max(count, 16384)) {
      this.startMs = new Float64Array(Math.ceil(count * 1.25));
      this.endMs = new Float64Array(Math.ceil(count * 1.25));
    }
    wallTimes(this.rows, monotonicToWallOffsetMs(this.clock), this.startMs, this.endMs);
    // After the flows: a response's record is written before its packet is counted (bpf/dns.h).
    const dns = this.object.dns ? this.dns.join(this.object.dns.drain(), this.rows.keys, count) : undefined;
    let rtt: ReturnType<typeof joinRtt>;
    if (this.object.rtt) {
      const connections = this.object.rtt.drain();
      rtt = joinRtt(connections, this.object.rtt.netnsCookie, this.rows.keys, count);
      this.counts.rttConnections += connections.count;
      this.counts.rttFlows += rtt?.size ?? 0;
    }
    const flows = new FlowColumns(this.rows.keys, this.rows.metrics, count, this.startMs, this.endMs, this.options.names, undefined, true, this.options.cgroups, dns, rtt, drops);
    return {
      flows,
      evictedAtMs: this.clock.wallMs(),
      evictionMs: performance.now() - started,
      counters: this.object.readCounters(),
    };
  }

  /** Never throws: the old map is drained whatever the hook does (a failed self-check sample loses no flow). */
  private afterSwap() {
    try {
      this.options.afterSwap?.();
    } catch {
      // Only the self-check's sample is missed; the flows are drained all the same.
    }
  }

  close() {
    this.ring.close();
  }

  [Symbol.dispose]() {
    this.close();
  }
}
