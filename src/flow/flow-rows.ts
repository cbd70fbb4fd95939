/**
 * Flows as rows of kernel bytes: struct flow_key rows and struct flow_metrics
 * rows (bpf/flow.h) in two growable buffers, the shape a batch drain writes
 * and FlowColumns reads. The buffers are kept from one eviction to the next
 * (fresh 100 MB buffers per eviction cost more in page faults than the copy);
 * they shrink when a much smaller table has been enough for a while.
 */
import { FLOW_KEY, FLOW_METRICS } from "../bpf/flow-layout.ts";

export const KEY_WORDS = FLOW_KEY.size / 4;
export const METRIC_WORDS = FLOW_METRICS.size / 4;
const M = FLOW_METRICS.fields;
const TWO_32 = 4294967296;

// Word indexes inside a metrics row.
const PACKETS = M.packets.offset / 4;
const BYTES = M.bytes.offset / 4;
const FIRST = M.first_seen_ns.offset / 4;
const LAST = M.last_seen_ns.offset / 4;
const TCP_FLAGS = M.tcp_flags.offset / 4;
const FLAGS = M.flags.offset / 4;
/** dscp, icmp type/code, l2 header length, MACs, VLAN (and padding): the first packet's fields, from dscp to the end of the row. */
const FIRST_PACKET = M.dscp.offset / 4;
const FIRST_PACKET_WORDS = METRIC_WORDS - FIRST_PACKET;

export class FlowRows {
  keys = new Uint8Array(0);
  metrics = new Uint8Array(0);
  key32 = new Uint32Array(0);
  metric32 = new Uint32Array(0);
  count = 0;
  private capacity = 0;
  private smallSince = 0;

  /** Room for `rows` rows; the first `count` are kept. */
  reserve(rows: number) {
    if (rows <= this.capacity) return;
    this.resize(Math.max(rows, this.capacity * 2, 1024));
  }

  /**
   * Called once per eviction with the rows it needed: after 5 evictions in a
   * row that used under a quarter of the buffers, they are cut to twice that.
   */
  settle(used: number) {
    if (used * 4 >= this.capacity || this.capacity <= 65536) {
      this.smallSince = 0;
      return;
    }
    if (++this.smallSince >= 5) {
      this.smallSince = 0;
      this.resize(Math.max(used * 2, 1024));
    }
  }

  clear() {
    this.count = 0;
  }

  private resize(capacity: number) {
    const keys = new Uint8Array(capacity * FLOW_KEY.size);
    const metrics = new Uint8Array(capacity * FLOW_METRICS.size);
    keys.set(this.keys.subarray(0, this.count * FLOW_KEY.size));
    metrics.set(this.metrics.subarray(0, this.count * FLOW_METRICS.size));
    this.keys = keys;
    this.metrics = metrics;
    this.key32 = new Uint32Array(keys.buffer);
    this.metric32 = new Uint32Array(metrics.buffer);
    this.capacity = capacity;
  }

  /** Appends one row copied from 32-bit words: the key at `keys[keyWord]`, the metrics at `metrics[metricWord]`. */
  append(keys: Uint32Array, keyWord: number, metrics: Uint32Array, metricWord: number): number {
    this.reserve(this.count + 1);
    const row = this.count++;
    const k = row * KEY_WORDS;
    for (let w = 0; w < KEY_WORDS; w++) this.key32[k + w] = keys[keyWord + w]!;
    const m = row * METRIC_WORDS;
    for (let w = 0; w < METRIC_WORDS; w++) this.metric32[m + w] = metrics[metricWord + w]!;
    return row;
  }
}

function u64(words: Uint32Array, at: number): number {
  return words[at]! + words[at + 1]! * TWO_32;
}

/** target[to..to+1] += source[from..from+1], as little-endian 64-bit words. */
function addU64(target: Uint32Array, to: number, source: Uint32Array, from: number) {
  const low = target[to]! + source[from]!;
  target[to] = low; // Uint32Array stores keep the low 32 bits
  target[to + 1] = target[to + 1]! + source[from + 1]! + (low > 0xffffffff ? 1 : 0);
}

/** Compares the 64-bit words at a[i] and b[j]: negative, zero or positive. */
function compareU64(a: Uint32Array, i: number, b: Uint32Array, j: number): number {
  return a[i + 1]! - b[j + 1]! || a[i]! - b[j]!;
}

/**
 * Adds the flow_metrics at `from` (word index into `source`) to the row at
 * `to` (word index into `target`): counts summed, the time span widened,
 * flags ORed; the first-packet fields (DSCP, ICMP, MACs, VLAN, link-layer length) come from whichever
 * saw the flow first, as one block (on equal first_seen_ns the target keeps
 * its own: the clock cannot tell which came first). Integer word arithmetic:
 * no doubles, no allocation.
 */
export function addMetrics(target: Uint32Array, to: number, source: Uint32Array, from: number) {
  addU64(target, to + PACKETS, source, from + PACKETS);
  addU64(target, to + BYTES, source, from + BYTES);
  if (compareU64(source, from + FIRST, target, to + FIRST) < 0) {
    target[to + FIRST] = source[from + FIRST]!;
    target[to + FIRST + 1] = source[from + FIRST + 1]!;
    for (let w = 0; w < FIRST_PACKET_WORDS; w++) target[to + FIRST_PACKET + w] = source[from + FIRST_PACKET + w]!;
  }
  if (compareU64(source, from + LAST, target, to + LAST) > 0) {
    target[to + LAST] = source[from + LAST]!;
    target[to + LAST + 1] = source[from + LAST + 1]!;
  }
  target[to + TCP_FLAGS] = target[to + TCP_FLAGS]! | source[from + TCP_FLAGS]!;
  target[to + FLAGS] = target[to + FLAGS]! | source[from + FLAGS]!;
}

/** Wall-clock ms of every row's first and last packet, with one offset (see clock.ts). */
export function wallTimes(rows: FlowRows, offsetMs: number, startMs: Float64Array, endMs: Float64Array) {
  const words = rows.metric32;
  for (let i = 0, w = 0; i < rows.count; i++, w += METRIC_WORDS) {
    startMs[i] = u64(words, w + FIRST) / 1e6 + offsetMs;
    endMs[i] = u64(words, w + LAST) / 1e6 + offsetMs;
  }
}
