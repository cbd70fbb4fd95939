/**
 * The flows maps: the inner maps of `flows` (bpf/maps.h), created here at
 * the size user space chooses, swapped in one outer-map update, and drained
 * with batch calls.
 *
 * swap(): the kernel returns from updating an ARRAY_OF_MAPS slot only after
 * an RCU grace period, so when swap() returns no program still holds the
 * old map: it is written by nobody and can be drained exactly. The call
 * blocks this thread for that grace period (milliseconds; measured by
 * bench/, reported as evictionMs); the programs themselves never wait.
 *
 * Drains read every (key, value) pair in a handful of
 * lookup_and_delete_batch calls into FlowRows, never one FFI call per flow
 * (iterate-then-delete only where the kernel lacks batch operations). With
 * per-CPU values the batch lands in a scratch buffer (one FLOW_METRICS.size-byte slot per
 * possible CPU) and each flow's copies are merged into its row.
 */
import { addMetrics, METRIC_WORDS, type FlowRows } from "../flow/flow-rows.ts";
import { FLOW_KEY, FLOW_METRICS, perCpuStride } from "./flow-layout.ts";
import {
  BPF_F_NO_PREALLOC,
  BPF_MAP_TYPE_HASH,
  BPF_MAP_TYPE_PERCPU_HASH,
  closeFd,
  mapCreate,
  mapDelete,
  mapLookup,
  mapLookupAndDeleteBatch,
  mapMemoryBytes,
  mapNextKey,
  mapUpdate,
} from "./libbpf.ts";

/** Keys and values moved per batch call: at most 65,536 flows, at most 16 MiB of values. */
const MAX_BATCH_ENTRIES = 65536;
const BATCH_VALUE_BYTES = 16 * 1024 * 1024;

export interface FlowMap {
  readonly fd: number;
  /** max_entries */
  readonly capacity: number;
}

export class FlowMaps implements Disposable {
  private activeMap: FlowMap;
  /** The last drained map, empty, kept for the next swap if its size is still wanted. */
  private spare: FlowMap | undefined;
  private readonly token = new Uint8Array(Math.max(FLOW_KEY.size, 8));
  private readonly slotKey = new Uint8Array(4);
  private batchSupported = true;
  private closed = false;
  private readonly batchEntries: number;
  /** Bytes of one flow's value as the syscalls move it: FLOW_METRICS.size, or that × CPUs for per-CPU values. */
  private readonly valueBytes: number;
  /** Per-CPU values of one batch, merged into rows after each call. */
  private scratch = new Uint8Array(0);

  /**
   * Creates the first inner map and installs it: call before any program is
   * attached. `percpuCpus`: possible CPUs when the maps hold per-CPU values, else 0.
   */
  constructor(
    private readonly outerFd: number,
    capacity: number,
    private readonly percpuCpus = 0,
  ) {
    this.valueBytes = percpuCpus ? perCpuStride(FLOW_METRICS.size) * percpuCpus : FLOW_METRICS.size;
    this.batchEntries = Math.max(1024, Math.min(MAX_BATCH_ENTRIES, Math.floor(BATCH_VALUE_BYTES / this.valueBytes)));
    this.activeMap = this.create(capacity);
    try {
      this.install(this.activeMap);
    } catch (error) {
      closeFd(this.activeMap.fd);
      throw error;
    }
  }

  get active(): FlowMap {
    return this.activeMap;
  }

  /**
   * Installs a map of `capacity` entries (the spare when it has that size, a
   * new one otherwise) and returns the one it replaced, which no program
   * writes any more. Hand it back with `recycle` once drained.
   */
  swap(capacity: number): FlowMap {
    let next = this.spare;
    this.spare = undefined;
    if (!next || next.capacity !== capacity) {
      if (next) closeFd(next.fd);
      next = this.create(capacity);
    }
    try {
      this.install(next);
    } catch (error) {
      closeFd(next.fd);
      throw error;
    }
    const old = this.activeMap;
    this.activeMap = next;
    return old;
  }

  /** Keeps a drained map for the next swap. */
  recycle(map: FlowMap) {
    if (this.spare) closeFd(this.spare.fd);
    this.spare = map;
  }

  /** Reads and deletes every element of `map` into `rows` (appended after rows.count). No program may write it. */
  drain(map: FlowMap, rows: FlowRows): number {
    const start = rows.count;
    if (this.batchSupported) {
      let first = true;
      for (;;) {
        rows.reserve(rows.count + this.batchEntries);
        const values = this.percpuCpus ? this.scratchFor(this.batchEntries) : rows.metrics.subarray(rows.count * FLOW_METRICS.size);
        const result = mapLookupAndDeleteBatch(map.fd, first, this.token, rows.keys.subarray(rows.count * FLOW_KEY.size), values, this.batchEntries);
        if (result === null) {
          this.batchSupported = false;
          break;
        }
        first = false;
        if (this.percpuCpus) this.mergeCopies(rows, rows.count, result.copied);
        rows.count += result.copied;
        if (result.done) return rows.count - start;
      }
    }
    // Fallback for kernels without batch operations on hash maps (before 5.6).
    const key = new Uint8Array(FLOW_KEY.size);
    const value = new Uint8Array(this.valueBytes);
    let previous: Uint8Array | null = null;
    const found = rows.count;
    while (mapNextKey(map.fd, previous, key)) {
      rows.reserve(rows.count + 1);
      const at = rows.count;
      if (mapLookup(map.fd, key, this.percpuCpus ? this.scratchFor(1) : value)) {
        rows.keys.set(key, at * FLOW_KEY.size);
        if (this.percpuCpus) this.mergeCopies(rows, at, 1);
        else rows.metrics.set(value, at * FLOW_METRICS.size);
        rows.count++;
      }
      previous = key.slice();
    }
    for (let i = found; i < rows.count; i++) mapDelete(map.fd, rows.keys.subarray(i * FLOW_KEY.size, (i + 1) * FLOW_KEY.size));
    return rows.count - start;
  }

  private scratchFor(entries: number): Uint8Array {
    const bytes = entries * this.valueBytes;
    if (this.scratch.byteLength < bytes) this.scratch = new Uint8Array(bytes);
    return this.scratch;
  }

  /**
   * Rows from..from+count get the merge of their flows' per-CPU copies from
   * the scratch buffer; a CPU that never saw the flow left its copy zero.
   * The first-packet fields come whole from the copy with the earliest
   * first_seen_ns (addMetrics), as with shared values: the inserting packet's.
   */
  private mergeCopies(rows: FlowRows, from: number, count: number) {
    const copies = new Uint32Array(this.scratch.buffer, 0, (count * this.valueBytes) / 4);
    const slotWords = perCpuStride(FLOW_METRICS.size) / 4;
    const target = rows.metric32;
    for (let i = 0; i < count; i++) {
      const to = (from + i) * METRIC_WORDS;
      let filled = false;
      for (let cpu = 0, at = (i * this.valueBytes) / 4; cpu < this.percpuCpus; cpu++, at += slotWords) {
        if (copies[at] === 0 && copies[at + 1] === 0) continue; // packets == 0: not this CPU's flow
        if (filled) addMetrics(target, to, copies, at);
        else {
          for (let w = 0; w < METRIC_WORDS; w++) target[to + w] = copies[at + w]!;
          filled = true;
        }
      }
      if (!filled) for (let w = 0; w < METRIC_WORDS; w++) target[to + w] = 0;
    }
  }

  /** Kernel memory of the flows maps held now (memlock of each fd). */
  memoryBytes(): number {
    return mapMemoryBytes(this.activeMap.fd) + (this.spare ? mapMemoryBytes(this.spare.fd) : 0);
  }

  private create(capacity: number): FlowMap {
    const type = this.percpuCpus ? BPF_MAP_TYPE_PERCPU_HASH : BPF_MAP_TYPE_HASH;
    return { fd: mapCreate(type, "flows_inner", FLOW_KEY.size, FLOW_METRICS.size, capacity, BPF_F_NO_PREALLOC), capacity };
  }

  private install(map: FlowMap) {
    // The outer map's value is the inner map's fd (a __u32 in user space).
    mapUpdate(this.outerFd, this.slotKey, new Uint8Array(new Uint32Array([map.fd]).buffer));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    closeFd(this.activeMap.fd);
    if (this.spare) closeFd(this.spare.fd);
    this.spare = undefined;
  }

  [Symbol.dispose]() {
    this.close();
  }
}


