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
 * (iterate-then-delete only where the kernel lacks batch operations).
 */
import type { FlowRows } from "../flow/flow-rows.ts";
import { FLOW_KEY, FLOW_METRICS } from "./flow-layout.ts";
import {
  BPF_F_NO_PREALLOC,
  BPF_MAP_TYPE_HASH,
  closeFd,
  mapCreate,
  mapDelete,
  mapLookup,
  mapLookupAndDeleteBatch,
  mapMemoryBytes,
  mapNextKey,
  mapUpdate,
} from "./libbpf.ts";

/** Keys and values moved per batch call. */
const BATCH_ENTRIES = 65536;

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

  /** Creates the first inner map and installs it: call before any program is attached. */
  constructor(
    private readonly outerFd: number,
    capacity: number,
  ) {
    this.activeMap = createFlowMap(capacity);
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
      next = createFlowMap(capacity);
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
        rows.reserve(rows.count + BATCH_ENTRIES);
        const result = mapLookupAndDeleteBatch(
          map.fd,
          first,
          this.token,
          rows.keys.subarray(rows.count * FLOW_KEY.size),
          rows.metrics.subarray(rows.count * FLOW_METRICS.size),
          BATCH_ENTRIES,
        );
        if (result === null) {
          this.batchSupported = false;
          break;
        }
        first = false;
        rows.count += result.copied;
        if (result.done) return rows.count - start;
      }
    }
    // Fallback for kernels without batch operations on hash maps (before 5.6).
    const key = new Uint8Array(FLOW_KEY.size);
    let previous: Uint8Array | null = null;
    const found = rows.count;
    while (mapNextKey(map.fd, previous, key)) {
      rows.reserve(rows.count + 1);
      const at = rows.count;
      if (mapLookup(map.fd, key, rows.metrics.subarray(at * FLOW_METRICS.size, (at + 1) * FLOW_METRICS.size))) {
        rows.keys.set(key, at * FLOW_KEY.size);
        rows.count++;
      }
      previous = key.slice();
    }
    for (let i = found; i < rows.count; i++) mapDelete(map.fd, rows.keys.subarray(i * FLOW_KEY.size, (i + 1) * FLOW_KEY.size));
    return rows.count - start;
  }

  /** Kernel memory of the flows maps held now (memlock of each fd). */
  memoryBytes(): number {
    return mapMemoryBytes(this.activeMap.fd) + (this.spare ? mapMemoryBytes(this.spare.fd) : 0);
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

function createFlowMap(capacity: number): FlowMap {
  const fd = mapCreate(BPF_MAP_TYPE_HASH, "flows_inner", FLOW_KEY.size, FLOW_METRICS.size, capacity, BPF_F_NO_PREALLOC);
  return { fd, capacity };
}
