/**
 * Draining a flows map: every (key, per-CPU values) pair read and deleted in
 * a handful of batch calls, never one FFI call per flow (unless the kernel
 * lacks batch operations, where iterate-then-delete is the fallback).
 */
import { FLOW_KEY, FLOW_METRICS, perCpuStride } from "./flow-layout.ts";
import { mapDelete, mapLookup, mapLookupAndDeleteBatch, mapNextKey } from "./libbpf.ts";

/** Entries moved per batch call: bounds the buffers whatever the map size or CPU count. */
const BATCH_ENTRIES = 8192;

/** Flows read out of a map: `count` keys of FLOW_KEY.size bytes; values `cpus` slots each. */
export interface DrainedFlows {
  keys: Uint8Array;
  values: Uint8Array;
  count: number;
  /** Bytes from one flow's values to the next: stride × cpus. */
  valueStride: number;
}

export class FlowMapDrainer {
  private readonly slot: number;
  private readonly token = new Uint8Array(Math.max(FLOW_KEY.size, 8));
  private batchSupported = true;

  constructor(private readonly cpus: number) {
    this.slot = perCpuStride(FLOW_METRICS.size);
  }

  /** Reads and deletes every element of the map. The map must be quiescent (not the active slot). */
  drain(fd: number, expected: number): DrainedFlows {
    const valueStride = this.slot * this.cpus;
    let capacity = Math.max(BATCH_ENTRIES, expected);
    let keys = new Uint8Array(capacity * FLOW_KEY.size);
    let values = new Uint8Array(capacity * valueStride);
    let count = 0;

    const grow = (need: number) => {
      if (need <= capacity) return;
      capacity = Math.max(need, capacity * 2);
      const k = new Uint8Array(capacity * FLOW_KEY.size);
      k.set(keys.subarray(0, count * FLOW_KEY.size));
      const v = new Uint8Array(capacity * valueStride);
      v.set(values.subarray(0, count * valueStride));
      keys = k;
      values = v;
    };

    if (this.batchSupported) {
      let first = true;
      for (;;) {
        grow(count + BATCH_ENTRIES);
        const result = mapLookupAndDeleteBatch(
          fd,
          first,
          this.token,
          keys.subarray(count * FLOW_KEY.size),
          values.subarray(count * valueStride),
          BATCH_ENTRIES,
        );
        if (result === null) {
          this.batchSupported = false;
          break;
        }
        first = false;
        count += result.copied;
        if (result.done) return { keys, values, count, valueStride };
      }
    }

    // Fallback for kernels without batch support on per-CPU hashes (before 5.6).
    const key = new Uint8Array(FLOW_KEY.size);
    let previous: Uint8Array | null = null;
    while (mapNextKey(fd, previous, key)) {
      grow(count + 1);
      if (mapLookup(fd, key, values.subarray(count * valueStride, (count + 1) * valueStride))) {
        keys.set(key, count * FLOW_KEY.size);
        count++;
      }
      previous = key.slice();
    }
    for (let i = 0; i < count; i++) mapDelete(fd, keys.subarray(i * FLOW_KEY.size, (i + 1) * FLOW_KEY.size));
    return { keys, values, count, valueStride };
  }
}
