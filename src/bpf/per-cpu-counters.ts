/**
 * A per-CPU array's element 0 of u64 counters (struct flow_counters,
 * dns_counters, drop_counters), read in one lookup and summed over CPUs.
 * Counters only grow; the buffer is kept from one read to the next.
 */
import { mapLookup } from "./libbpf.ts";

export class PerCpuCounters<Field extends string> {
  private readonly values: BigUint64Array;
  private readonly key = new Uint8Array(4);
  private readonly words: number;

  constructor(
    private readonly fd: number,
    private readonly layout: { size: number; fields: Record<Field, { offset: number }> },
    private readonly cpus: number,
    /** The map's name, for the error when element 0 is missing. */
    private readonly name: string,
  ) {
    this.words = layout.size / 8;
    this.values = new BigUint64Array(this.words * cpus);
  }

  /** Every field, summed over CPUs. */
  read(): Record<Field, number> {
    if (!mapLookup(this.fd, this.key, new Uint8Array(this.values.buffer))) throw new Error(`${this.name} map has no element 0`);
    const totals = {} as Record<Field, number>;
    for (const field of Object.keys(this.layout.fields) as Field[]) {
      const at = this.layout.fields[field].offset / 8;
      let total = 0;
      for (let cpu = 0; cpu < this.cpus; cpu++) total += Number(this.values[cpu * this.words + at]!);
      totals[field] = total;
    }
    return totals;
  }
}
