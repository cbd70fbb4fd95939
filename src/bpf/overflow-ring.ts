/**
 * The overflow ring buffer read in place, in bulk: the ring is mapped into
 * this process (libbpf.ts mapRingBuffer) and walked from JS, record by
 * record, with no FFI call and no callback from native code per record.
 *
 * The protocol is the kernel's (kernel/bpf/ringbuf.c): each record has an
 * 8-byte header whose first word is its length with BUSY (bit 31: reserved,
 * not yet submitted) and DISCARD (bit 30) flags; records are 8-byte aligned.
 * The producer position is read once (an acquire load), records are read
 * up to it or to the first busy one, and the consumer position is published
 * (a release store) every few hundred records so the kernel can reuse the
 * space while a long backlog is read.
 */
import { FLOW_EVENT } from "./flow-layout.ts";
import { mapRingBuffer, type MappedRing } from "./libbpf.ts";

const BUSY = 1 << 31;
const DISCARD = 1 << 30;
const LENGTH_MASK = ~(BUSY | DISCARD);
const HEADER_BYTES = 8;
const PUBLISH_EVERY = 256;

/** Receives each flow_event: `words` is the ring as 32-bit words, `at` the event's first word. */
export type EventFold = (words: Uint32Array, at: number) => void;

export class OverflowRing implements Disposable {
  private readonly ring: MappedRing;
  private readonly headers: BigInt64Array;
  private readonly words: Uint32Array;
  /** Records of an unexpected size, skipped (a kernel/user mismatch: never, with the loader's checks). */
  malformed = 0;

  /** `recordSize`: the one record size the ring carries (flow_event; sock_closed for the process hooks' ring). */
  constructor(fd: number, dataBytes: number, private readonly recordSize: number = FLOW_EVENT.size) {
    this.ring = mapRingBuffer(fd, dataBytes);
    const { data } = this.ring;
    this.headers = new BigInt64Array(data.buffer, data.byteOffset, data.byteLength / 8);
    this.words = new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4);
  }

  /** Reads every submitted record now, without blocking; returns how many were folded. */
  consume(fold: EventFold): number {
    const { consumer: consumerPos, producer: producerPos, dataBytes } = this.ring;
    let consumer = Number(Atomics.load(consumerPos, 0));
    const producer = Number(Atomics.load(producerPos, 0));
    let folded = 0;
    let sincePublish = 0;
    while (consumer < producer) {
      const at = consumer % dataBytes;
      const header = Number(BigInt.asUintN(32, Atomics.load(this.headers, at / 8)));
      if (header & BUSY) break; // reserved, not submitted yet: the next read gets it
      const length = header & LENGTH_MASK;
      if (!(header & DISCARD)) {
        if (length === this.recordSize) {
          fold(this.words, (at + HEADER_BYTES) / 4);
          folded++;
        } else this.malformed++;
      }
      consumer += (length + HEADER_BYTES + 7) & ~7;
      if (++sincePublish === PUBLISH_EVERY) {
        Atomics.store(consumerPos, 0, BigInt(consumer));
        sincePublish = 0;
      }
    }
    Atomics.store(consumerPos, 0, BigInt(consumer));
    return folded;
  }

  close() {
    this.ring.close();
  }

  [Symbol.dispose]() {
    this.close();
  }
}
