/**
 * The buffers IPFIX messages are written into (ipfix-encoder.ts): large
 * chunks filled one message after another, each message a view of its
 * chunk. A chunk is reused once it is full and every message in it has been
 * released (sent or dropped); as many free chunks are kept as the last batch
 * of flows filled, no more (as BlockBuffers does for the gRPC path).
 * Allocating, zeroing and collecting a fresh 10 MB of chunks per 100k flows
 * cost more than writing the records (bench/ipfix-encode.ts).
 *
 * Ownership: a message's bytes stay valid until it is released; releasing
 * it twice would let its chunk be reused under another message still queued.
 */

/** A buffer that messages are written into, one after another. */
export interface MessageChunk {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Messages in it not yet released. */
  unreleased: number;
  /** Still being written into: not reused even when every message so far is released. */
  filling: boolean;
}

export class MessageChunks {
  /** Chunks with messages out or being filled, by their buffer (what a message's bytes view). */
  private readonly inUse = new Map<ArrayBufferLike, MessageChunk>();
  private readonly free: MessageChunk[] = [];
  private keep = 1;
  /** Chunks taken so far (to count how many a batch filled). */
  taken = 0;

  constructor(readonly chunkBytes: number) {}

  /** A chunk to fill: a free one, or a new one. */
  take(): MessageChunk {
    this.taken++;
    let chunk = this.free.pop();
    if (!chunk) {
      const bytes = new Uint8Array(this.chunkBytes);
      chunk = { bytes, view: new DataView(bytes.buffer), unreleased: 0, filling: true };
    }
    chunk.filling = true;
    this.inUse.set(chunk.bytes.buffer, chunk);
    return chunk;
  }

  /** `chunk` is full: it is reused once its messages are all released. */
  retire(chunk: MessageChunk) {
    chunk.filling = false;
    if (chunk.unreleased === 0) this.recycle(chunk);
  }

  /** A message written in one of these chunks has been sent or dropped; a message from elsewhere is ignored. */
  release(bytes: Uint8Array) {
    const chunk = this.inUse.get(bytes.buffer);
    if (!chunk) return;
    chunk.unreleased--;
    if (chunk.unreleased === 0 && !chunk.filling) this.recycle(chunk);
  }

  /** A batch filled `chunks` chunks: keep as many free for the next one, no more. */
  keepFor(chunks: number) {
    this.keep = Math.max(1, chunks);
    if (this.free.length > this.keep) this.free.length = this.keep;
  }

  get freeChunks(): number {
    return this.free.length;
  }

  private recycle(chunk: MessageChunk) {
    this.inUse.delete(chunk.bytes.buffer);
    if (this.free.length < this.keep) this.free.push(chunk);
  }
}
