/**
 * A minimal protobuf wire writer for the export hot path: one growable
 * buffer, no per-field objects. Field order and the omission of default
 * values are the caller's job; flow-wire.ts uses it to produce exactly the
 * bytes @bufbuild/protobuf's toBinary would (tests compare them byte for byte).
 */

export const VARINT = 0;
export const FIXED32 = 5;
export const LENGTH_DELIMITED = 2;

export class WireWriter {
  buf: Uint8Array;
  pos = 0;
  private readonly utf8 = new TextEncoder();

  constructor(initialBytes = 64 * 1024) {
    this.buf = new Uint8Array(initialBytes);
  }

  /**
   * Continues in `buf` from its start (the caller took the previous buffer's
   * bytes, e.g. as a block of the export queue).
   */
  restart(buf: Uint8Array) {
    this.buf = buf;
    this.pos = 0;
  }

  /** Room for `n` more bytes. */
  ensure(n: number) {
    if (this.pos + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
  }

  /** Field key: (number << 3) | wire type. Field numbers here are < 2^28. */
  tag(field: number, wireType: number) {
    this.varint32((field << 3) | wireType);
  }

  /** A non-negative integer below 2^32. */
  varint32(value: number) {
    this.ensure(5);
    const buf = this.buf;
    let v = value >>> 0;
    while (v > 0x7f) {
      buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[this.pos++] = v;
  }

  /**
   * A non-negative integer below 2^64 held exactly by a JS number (uint64
   * fields: counters, 48-bit MACs). Split into 32-bit halves so the loop runs
   * on integer ops: a floating-point % and floor per 7 bits cost 3-4x more
   * (two 48-bit MACs per row: 28 ms per 100k rows, now 8).
   */
  varint(value: number) {
    if (value < 0x80000000) return this.varint32(value);
    const lo = value >>> 0; // value mod 2^32 (exact for integers)
    this.varint64((value - lo) / 4294967296, lo);
  }

  /** A uint64 given as its high and low 32-bit halves (a MAC read from its bytes, say). */
  varint64(high: number, low: number) {
    this.ensure(10);
    const buf = this.buf;
    let lo = low >>> 0;
    let hi = high >>> 0;
    while (hi > 0 || lo > 0x7f) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[this.pos++] = lo;
  }

  fixed32(value: number) {
    this.ensure(4);
    const v = value >>> 0;
    this.buf[this.pos++] = v & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = v >>> 24;
  }

  /** Length-prefixed bytes `from[start, end)`. */
  bytes(from: Uint8Array, start = 0, end = from.length) {
    const length = end - start;
    this.varint32(length);
    this.ensure(length);
    // Short fields (4-16 byte addresses, MACs, names) byte by byte: no view object per field.
    if (length <= 32) for (let i = start; i < end; i++) this.buf[this.pos++] = from[i]!;
    else this.raw(from.subarray(start, end));
  }

  /** Bytes as they are (already encoded fields), no length prefix. */
  raw(bytes: Uint8Array) {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Length-prefixed UTF-8; `cache` keeps the encoding of strings that repeat (interface names). */
  string(text: string, cache?: Map<string, Uint8Array>) {
    let encoded = cache?.get(text);
    if (!encoded) {
      encoded = this.utf8.encode(text);
      if (cache && cache.size < 4096) cache.set(text, encoded);
    }
    this.varint32(encoded.length);
    this.ensure(encoded.length);
    this.buf.set(encoded, this.pos);
    this.pos += encoded.length;
  }

  /**
   * Starts a length-delimited sub-message: reserves one length byte (most of
   * ours are < 128 bytes) and returns where its body starts, for `endMessage`.
   */
  beginMessage(): number {
    this.ensure(1);
    this.pos++;
    return this.pos;
  }

  /** Writes the sub-message's length before its body, moving the body when the length needs more than one byte. */
  endMessage(bodyStart: number) {
    const length = this.pos - bodyStart;
    if (length < 0x80) {
      this.buf[bodyStart - 1] = length;
      return;
    }
    let extra = 0;
    for (let v = length >>> 7; v > 0; v >>>= 7) extra++;
    this.ensure(extra);
    this.buf.copyWithin(bodyStart + extra, bodyStart, this.pos);
    this.pos = bodyStart - 1;
    this.varint32(length);
    this.pos += length;
  }

  /** The bytes written so far (a copy), and the writer emptied for reuse. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.pos);
    this.pos = 0;
    return out;
  }

  /**
   * The bytes written so far without copying, and the writer emptied: the
   * view is valid only until the next write. For one request at a time,
   * where a copy of up to a few MB per request would only feed the GC.
   */
  takeView(): Uint8Array {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }
}
