/**
 * The rows of a flow batch grouped for the IPFIX encoder (ipfix-encoder.ts):
 * each row's template (ipfix-templates.ts recordTemplateIndex, an index in
 * RECORD_TEMPLATES, "+ drops" twins included) and sampling rate, then, per
 * rate, the rows of that rate in template order. Counting sorts into arrays
 * reused across batches: nothing allocated per row.
 *
 * Ownership: `order` and `firstOfTemplate` hold the last group() until the
 * next call; the encoder reads them straight after.
 */
import type { FlowColumns } from "../flow/flow-columns.ts";
import { FLOW_TEMPLATES, recordTemplateIndex } from "./ipfix-templates.ts";

/** RECORD_TEMPLATES from this index on are the "+ drops" ones. */
const FIRST_DROPS_TEMPLATE = FLOW_TEMPLATES.length;

export class FlowRowGroups {
  private kinds = new Uint8Array(0);
  private rates = new Uint32Array(0);
  /** Rows of the last group(), template by template. */
  order = new Uint32Array(0);
  /** Rows of the last classify() with drops (written with a DROPS_TEMPLATES template). */
  dropRows = 0;
  /** Where each template's rows start in `order` (one more entry: the end). */
  readonly firstOfTemplate: Uint32Array;
  private readonly nextOfTemplate: Uint32Array;

  /** `templates`: RECORD_TEMPLATES.length. */
  constructor(templates: number) {
    this.firstOfTemplate = new Uint32Array(templates + 1);
    this.nextOfTemplate = new Uint32Array(templates);
  }

  /**
   * Each row's template (kinds) and sampling rate (rates, 1 when unsampled),
   * and how many rows have drops (dropRows); returns the rates above 1 in
   * the batch, ascending (none: the common case).
   */
  classify(flows: FlowColumns): number[] {
    const n = flows.count;
    if (this.kinds.length < n) {
      const size = Math.max(n, this.kinds.length * 2);
      this.kinds = new Uint8Array(size);
      this.rates = new Uint32Array(size);
      this.order = new Uint32Array(size);
    }
    const { kinds, rates } = this;
    let sampled = 0;
    let dropRows = 0;
    for (let i = 0; i < n; i++) {
      const kind = recordTemplateIndex(flows, i);
      kinds[i] = kind;
      if (kind >= FIRST_DROPS_TEMPLATE) dropRows++;
      const rate = flows.sampling(i);
      rates[i] = rate;
      if (rate > 1) sampled++;
    }
    this.dropRows = dropRows;
    if (sampled === 0) return [];
    const distinct = new Set<number>();
    for (let i = 0; i < n; i++) if (rates[i]! > 1) distinct.add(rates[i]!);
    return [...distinct].sort((x, y) => x - y);
  }

  /**
   * The rows 0..n-1 sampled at `rate` (1: unsampled) in template order
   * (stable within a template), in `order`, and where each template's rows
   * start (firstOfTemplate): a counting sort. Returns how many there are.
   */
  group(n: number, rate: number): number {
    const { kinds, rates, order, firstOfTemplate: first, nextOfTemplate: next } = this;
    first.fill(0);
    for (let i = 0; i < n; i++) if (rates[i] === rate) first[kinds[i]! + 1]!++;
    for (let t = 1; t < first.length; t++) first[t]! += first[t - 1]!;
    next.set(first.subarray(0, next.length));
    for (let i = 0; i < n; i++) if (rates[i] === rate) order[next[kinds[i]!]!++] = i;
    return first[first.length - 1]!;
  }
}
