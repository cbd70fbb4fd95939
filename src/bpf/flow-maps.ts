/**
 * Draining a flows map: every (key, per-CPU values) pair read and deleted in
 * a handful of batch calls, never one FFI call per flow (unless the kernel
 * lacks batch operations, where iterate-then-delete is the fallback).
 *
 * The buffers are kept from one drain to the next: a fresh 10+ MB buffer per
 * eviction costs more in page faults than the kernel's copy into it. What a
 * drain returns is valid until the next drain; decodeFlows copies out what
 * it keeps.
 */
import { FLOW_KEY, FLOW_METRICS, perCpuStride } from "./flow-layout.ts";
import { mapDelete, mapLookup, mapLookupAndDeleteBatch, mapNextKey } from "./libbpf.ts";

/** Values moved per batch call are bounded by bytes, whatever the CPU count. */
const BATCH_VALUE_BYTES = 16 * 1024 * 1024;
const MAX_BATCH_ENTRIES = 65536;

/** Flows read out of a map: `count` keys of FLOW_KEY.size bytes; values `cpus` slots each. */
export interface DrainedFlows {
  keys: Uint8Array;
  values: Uint8Array;
  count: number;
  /** Bytes from one flow's values to the next: stride × cpus. */
  valueStride: number;
}

export class FlowMapDrainer {
  private readonly valueStride: number;
  private readonly batchEntries: number;
  private readonly token = new Uint8Array(Math.max(FLOW_KEY.size, 8));
  private batchSupported = true;
  private capacity = 0;
  private keys = new Uint8Array(0);
  private values = new Uint8Array(0);

  constructor(cpus: number) {
    this.valueStride = perCpuStride(FLOW_METRICS.size) * cpus;
    this.batchEntries = Math.max(1024, Math.min(MAX_BATCH_ENTRIES, Math.floor(BATCH_VALUE_BYTES / this.valueStride)));
  }

  /** Room for `entries` flows, keeping the first `keep`. */
  private reserve(entries: number, keep: number) {
    if (entries <= this.capacity) return;
    const capacity = Math.max(entries, this.capacity * 2);
    const keys = new Uint8Array(capacity * FLOW_KEY.size);
    keys.set(this.keys.subarray(0, keep * FLOW_KEY.size));
    const values = new Uint8Array(capacity * this.valueStride);
    values.set(this.values.subarray(0, keep * this.valueStride));
    this.keys = keys;
    this.values = values;
    this.capacity = capacity;
  }

  /** Reads and deletes every element of the map. The map must be quiescent (not the active slot). */
  drain(fd: number): DrainedFlows {
    const { valueStride } = this;
    let count = 0;
    if (this.batchSupported) {
      let first = true;
      for (;;) {
        this.reserve(count + this.batchEntries, count);
        const result = mapLookupAndDeleteBatch(
          fd,
          first,
          this.token,
          this.keys.subarray(count * FLOW_KEY.size),
          this.values.subarray(count * valueStride),
          this.batchEntries,
        );
        if (result === null) {
          this.batchSupported = false;
          break;
        }
        first = false;
        count += result.copied;
        if (result.done) return { keys: this.keys, values: this.values, count, valueStride };
      }
    }

    // Fallback for kernels without batch support on per-CPU hashes (before 5.6).
    const key = new Uint8Array(FLOW_KEY.size);
    let previous: Uint8Array | null = null;
    while (mapNextKey(fd, previous, key)) {
      this.reserve(count + 1, count);
      if (mapLookup(fd, key, this.values.subarray(count * valueStride, (count + 1) * valueStride))) {
        this.keys.set(key, count * FLOW_KEY.size);
        count++;
      }
      previous = key.slice();
    }
    for (let i = 0; i < count; i++) mapDelete(fd, this.keys.subarray(i * FLOW_KEY.size, (i + 1) * FLOW_KEY.size));
    return { keys: this.keys, values: this.values, count, valueStride };
  }
}
