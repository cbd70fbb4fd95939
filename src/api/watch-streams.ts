/**
 * The open Watch streams of one API, fed by one subscription to the agent.
 *
 * A batch's columns are reused by the next eviction, so each eviction is
 * filtered and encoded while the agent's listener runs: once per distinct
 * filter (streams whose filters have the same key share the bytes), straight
 * from the columns into netflow.v1 bytes. Each stream's BatchBuffer then
 * holds bytes only: a client slower than the evictions loses the oldest
 * batches (counted) and never holds the agent back or grows memory.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { FlowBatch } from "../flow/flow-record.ts";
import type { BatchListener } from "../agent/agent.ts";
import { WireWriter } from "../export/wire-writer.ts";
import { BatchBuffer } from "./batch-buffer.ts";
import { writeWatchBatchField } from "./watch-batch-wire.ts";
import type { CompiledFlowFilter, RowPredicate } from "./flow-filter.ts";

/** What the streams need of the agent: its evictions. */
export interface BatchPublisher {
  /** Returns a function that unsubscribes. */
  subscribe(listener: BatchListener): () => void;
}

/** One stream's view: length-prefixed netflow.v1.FlowBatch bytes (writeWatchBatchField), oldest first. */
export interface WatchStream extends Disposable {
  readonly buffer: BatchBuffer<Uint8Array>;
}

interface FilterGroup {
  matches: RowPredicate;
  buffers: Set<BatchBuffer<Uint8Array>>;
}

export class WatchStreams {
  private readonly groups = new Map<string, FilterGroup>();
  private readonly writer = new WireWriter();
  private unsubscribe: (() => void) | undefined;
  private ended = false;

  /** `capacity`: batches buffered per stream before the oldest are dropped. */
  constructor(private readonly publisher: BatchPublisher, private readonly capacity: number) {}

  /** Streams open now. */
  get size(): number {
    let n = 0;
    for (const group of this.groups.values()) n += group.buffers.size;
    return n;
  }

  /** A new stream receiving every eviction from now on; dispose it when the client goes. */
  open(filter: CompiledFlowFilter): WatchStream {
    const buffer = new BatchBuffer<Uint8Array>(this.capacity);
    if (this.ended) buffer.end();
    let group = this.groups.get(filter.key);
    if (!group) this.groups.set(filter.key, (group = { matches: filter.matches, buffers: new Set() }));
    group.buffers.add(buffer);
    this.unsubscribe ??= this.publisher.subscribe((batch) => this.publish(batch));
    return { buffer, [Symbol.dispose]: () => this.close(filter.key, buffer) };
  }

  /** Every stream, and every one opened later, ends once it has sent what it holds (the agent is stopping). */
  endAll() {
    this.ended = true;
    for (const group of this.groups.values()) for (const buffer of group.buffers) buffer.end();
  }

  private close(key: string, buffer: BatchBuffer<Uint8Array>) {
    const group = this.groups.get(key);
    if (!group?.buffers.delete(buffer)) return;
    if (group.buffers.size === 0) this.groups.delete(key);
    if (this.groups.size === 0) {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
    }
  }

  /** Called by the agent with each eviction: never throws into it, never waits. */
  private publish(batch: FlowBatch) {
    for (const group of this.groups.values()) {
      let bytes: Uint8Array;
      try {
        writeWatchBatchField(this.writer, batch, group.matches);
        bytes = this.writer.take();
      } catch (error) {
        this.writer.take(); // drops the partial message
        // A ConnectError, so the client reads why (Connect sends only "internal error" for others).
        const reason = new ConnectError(`encoding an eviction for Watch: ${error instanceof Error ? error.message : String(error)}`, Code.Internal, undefined, undefined, error);
        for (const buffer of group.buffers) buffer.end(reason);
        continue;
      }
      for (const buffer of group.buffers) buffer.push(bytes);
    }
  }
}
