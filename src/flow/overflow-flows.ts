/**
 * Packets that came through the overflow ring buffer (their flow did not fit
 * in the map), folded into flows between evictions, then merged into the
 * drained map's rows.
 *
 * Algorithm: an open-addressing hash table (linear probing, power-of-two
 * size, at most half full) of row numbers, keyed by the 44 key bytes read as
 * eleven 32-bit words; rows live in a FlowRows. A record costs one hash, one
 * or two probes and a few word copies: no object, no string key. The merge
 * probes the same table with each drained key, so a flow that is both in the
 * map and in the ring comes out as one row.
 */
import { FLOW_EVENT } from "../bpf/flow-layout.ts";
import { addMetrics, FlowRows, KEY_WORDS, METRIC_WORDS } from "./flow-rows.ts";

const EVENT_METRICS_WORD = FLOW_EVENT.fields.metrics.offset / 4;
const EMPTY = -1;

export class OverflowFlows {
  private readonly rows = new FlowRows();
  private slots = new Int32Array(1024).fill(EMPTY);
  private mask = 1023;
  /** Records folded since the last merge. */
  records = 0;

  get count(): number {
    return this.rows.count;
  }

  /** Folds one flow_event: `words` is the ring's data as 32-bit words, `at` the event's first word. */
  add(words: Uint32Array, at: number) {
    this.records++;
    const hash = hashKey(words, at);
    const rows = this.rows;
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const row = this.slots[slot]!;
      if (row === EMPTY) {
        this.slots[slot] = rows.append(words, at, words, at + EVENT_METRICS_WORD);
        if (rows.count * 2 > this.mask) this.grow();
        return;
      }
      if (sameKey(rows.key32, row * KEY_WORDS, words, at)) {
        addMetrics(rows.metric32, row * METRIC_WORDS, words, at + EVENT_METRICS_WORD);
        return;
      }
    }
  }

  /**
   * Adds every folded flow to `drained`: into the row of the same key where
   * there is one, as a new row otherwise. Empties this table.
   */
  mergeInto(drained: FlowRows) {
    const rows = this.rows;
    if (rows.count === 0) return;
    const merged = new Uint8Array(rows.count);
    const drainedCount = drained.count;
    for (let i = 0; i < drainedCount; i++) {
      const row = this.find(drained.key32, i * KEY_WORDS);
      if (row === EMPTY) continue;
      addMetrics(drained.metric32, i * METRIC_WORDS, rows.metric32, row * METRIC_WORDS);
      merged[row] = 1;
    }
    for (let row = 0; row < rows.count; row++)
      if (!merged[row]) drained.append(rows.key32, row * KEY_WORDS, rows.metric32, row * METRIC_WORDS);
    this.clear();
  }

  clear() {
    this.rows.settle(this.rows.count);
    this.rows.clear();
    this.records = 0;
    if (this.slots.length > 1024 * 16) {
      this.slots = new Int32Array(1024).fill(EMPTY);
      this.mask = 1023;
    } else this.slots.fill(EMPTY);
  }

  private find(keys: Uint32Array, at: number): number {
    for (let slot = hashKey(keys, at) & this.mask; ; slot = (slot + 1) & this.mask) {
      const row = this.slots[slot]!;
      if (row === EMPTY || sameKey(this.rows.key32, row * KEY_WORDS, keys, at)) return row;
    }
  }

  private grow() {
    const size = this.slots.length * 2;
    this.slots = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    const keys = this.rows.key32;
    for (let row = 0; row < this.rows.count; row++) {
      let slot = hashKey(keys, row * KEY_WORDS) & this.mask;
      while (this.slots[slot] !== EMPTY) slot = (slot + 1) & this.mask;
      this.slots[slot] = row;
    }
  }
}

/** FNV-1a over the key's words, then a final mix so that low bits depend on every word. */
function hashKey(words: Uint32Array, at: number): number {
  let h = 0x811c9dc5;
  for (let w = 0; w < KEY_WORDS; w++) h = Math.imul(h ^ words[at + w]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

function sameKey(a: Uint32Array, at: number, b: Uint32Array, bt: number): boolean {
  for (let w = 0; w < KEY_WORDS; w++) if (a[at + w] !== b[bt + w]) return false;
  return true;
}
