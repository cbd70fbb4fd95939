/**
 * Reads a side map out whole (the DNS, RTT and drop trackers' maps) with
 * lookup_and_delete_batch, into key and value rows that grow as needed and
 * are kept from one drain to the next. One owner per map; the rows are valid
 * until its next drain.
 */
import { mapLookupAndDeleteBatch } from "./libbpf.ts";

/** Elements moved per batch call. */
const BATCH = 1024;

/** One drain: `count` key rows and value rows, valid until the next drain. */
export interface DrainedRows {
  keys: Uint8Array;
  records: Uint8Array;
  count: number;
}

export class BatchDrain {
  private keys: Uint8Array;
  private records: Uint8Array;
  private readonly token: Uint8Array;

  constructor(
    /** What the map is, for the error a kernel without batch operations gives ("dns_flows"). */
    private readonly name: string,
    private readonly keySize: number,
    private readonly valueSize: number,
  ) {
    this.keys = new Uint8Array(BATCH * keySize);
    this.records = new Uint8Array(BATCH * valueSize);
    this.token = new Uint8Array(Math.max(keySize, 8));
  }

  /** Reads and deletes every element of the map `fd`; one the kernel writes meanwhile is in this drain or the next. */
  drain(fd: number): DrainedRows {
    let count = 0;
    for (let first = true; ; first = false) {
      if (count + BATCH > this.keys.length / this.keySize) {
        const grown = (count + BATCH) * 2;
        const keys = new Uint8Array(grown * this.keySize);
        keys.set(this.keys.subarray(0, count * this.keySize));
        const records = new Uint8Array(grown * this.valueSize);
        records.set(this.records.subarray(0, count * this.valueSize));
        this.keys = keys;
        this.records = records;
      }
      const r = mapLookupAndDeleteBatch(fd, first, this.token, this.keys.subarray(count * this.keySize), this.records.subarray(count * this.valueSize), BATCH);
      if (!r) throw new Error(`${this.name}: the kernel does not support batch operations on this map (needs 5.6)`);
      count += r.copied;
      if (r.done) break;
    }
    return { keys: this.keys, records: this.records, count };
  }
}
