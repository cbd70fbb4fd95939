/**
 * An eviction's rows as encoded records, in blocks: what the export queue holds.
 *
 * A block is one buffer of records back to back (each a whole protobuf field,
 * see flow-wire.ts) and where each one ends. Blocks are filled to ~256 KiB, so
 * a burst's memory goes back block by block as it drains, and their buffers
 * are reused: writing into fresh memory costs more than the encoding itself
 * (page faults; bench/RESULTS-export.md), while a steady agent encodes each
 * eviction into the pages the previous one was sent from.
 */
import type { FlowColumns } from "../flow/flow-columns.ts";
import { InterfaceNameBytes } from "./flow-wire.ts";
import { WireWriter } from "./wire-writer.ts";

/** Appends row i as one record (a FlowBatch.flows or Records.entries entry). */
export type WriteRecord = (w: WireWriter, flows: FlowColumns, i: number, names: InterfaceNameBytes) => void;

/**
 * Records back to back in `bytes`; record k ends at `ends[k]` (exclusive) and
 * starts where k-1 ends. The queue cuts batches and drops records at these
 * boundaries, and settles each record once (delivered, dropped, refused or
 * abandoned): after the last, the buffer goes to `onSettled` for reuse.
 */
export class EncodedRecords {
  private unsettled: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly ends: Uint32Array,
    private readonly onSettled?: (bytes: Uint8Array) => void,
  ) {
    this.unsettled = ends.length;
  }

  get count(): number {
    return this.ends.length;
  }

  start(k: number): number {
    return k === 0 ? 0 : this.ends[k - 1]!;
  }

  /** Bytes of records [from, to). */
  size(from: number, to: number): number {
    return to > from ? this.ends[to - 1]! - this.start(from) : 0;
  }

  /** Records [from, to) as one view (no copy); valid until they are settled. */
  view(from: number, to: number): Uint8Array {
    return this.bytes.subarray(this.start(from), this.start(from) + this.size(from, to));
  }

  /** The fewest records from `from` (up to `to`) whose bytes add up to at least `bytes`. */
  recordsCovering(from: number, to: number, bytes: number): number {
    if (bytes <= 0 || to <= from) return 0;
    const target = this.start(from) + bytes;
    if (this.ends[to - 1]! < target) return to - from;
    let lo = from;
    let hi = to - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! >= target) hi = mid;
      else lo = mid + 1;
    }
    return lo - from + 1;
  }

  /** `n` records left the queue for good; once none is left, nothing reads `bytes` any more. */
  settle(n: number) {
    this.unsettled -= n;
    if (this.unsettled === 0) this.onSettled?.(this.bytes);
    else if (this.unsettled < 0) throw new Error(`block of ${this.count} records settled ${-this.unsettled} times too many`);
  }
}

/**
 * The buffers blocks are encoded into, reused once a block is settled. Free
 * buffers are kept up to what the last eviction used: a steady agent reuses
 * them all, a one-off burst's extra memory is let go of (to the GC).
 */
export class BlockBuffers {
  private readonly free: ArrayBuffer[] = [];
  private keep = 0;
  readonly writer: WireWriter;
  /** Row ends of the block being filled. */
  readonly ends = new Uint32Array(16_384);

  constructor(readonly blockBytes = 256 * 1024) {
    this.writer = new WireWriter(0);
  }

  acquire(): Uint8Array {
    return new Uint8Array(this.free.pop() ?? new ArrayBuffer(this.blockBytes));
  }

  /** Takes back a settled block's buffer (one that grew past blockBytes is left to the GC). */
  readonly release = (bytes: Uint8Array) => {
    const buffer = bytes.buffer as ArrayBuffer;
    if (buffer.byteLength === this.blockBytes && this.free.length < this.keep) this.free.push(buffer);
  };

  /** An eviction filled `blocks` blocks: keep as many free buffers for the next one, no more. */
  keepFor(blocks: number) {
    this.keep = blocks;
    this.free.length = Math.min(this.free.length, blocks);
  }

  get freeBuffers(): number {
    return this.free.length;
  }
}

/**
 * Every row of `flows` as a record, written with `write` into blocks of
 * `buffers`, each handed to `take` as soon as it is full (the queue may then
 * drop older records before the next one is encoded). Returns how many blocks.
 */
export function encodeRecordBlocks(flows: FlowColumns, write: WriteRecord, buffers: BlockBuffers, take: (block: EncodedRecords) => void): number {
  if (flows.count === 0) return 0;
  const names = new InterfaceNameBytes(flows);
  const { writer, ends } = buffers;
  // Stop a block while one more record surely fits: a record that does not fit makes the writer copy into a bigger buffer.
  const fill = buffers.blockBytes - Math.min(4096, buffers.blockBytes / 4);
  let blocks = 0;
  let rows = 0;
  writer.restart(buffers.acquire());
  for (let i = 0; i < flows.count; i++) {
    write(writer, flows, i, names);
    ends[rows++] = writer.pos;
    if (writer.pos >= fill || rows === ends.length || i === flows.count - 1) {
      take(new EncodedRecords(writer.buf.subarray(0, writer.pos), ends.slice(0, rows), buffers.release));
      blocks++;
      rows = 0;
      if (i < flows.count - 1) writer.restart(buffers.acquire());
    }
  }
  writer.restart(new Uint8Array(0));
  return blocks;
}
