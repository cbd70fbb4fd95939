/**
 * The real program in the kernel, fed crafted packets with BPF_PROG_TEST_RUN,
 * its flows read back through the real eviction path (swap, batch drain,
 * overflow ring, merge).
 */
import { FlowObject, type FlowValues } from "../../src/bpf/flow-object.ts";
import type { FilterConfig } from "../../src/filter/filter-rule.ts";
import { progTestRun } from "../../src/bpf/libbpf.ts";
import { FlowEvictor } from "../../src/flow/evict-flows.ts";
import type { FlowBatch, FlowRecord } from "../../src/flow/flow-record.ts";
import type { MapSizingOptions } from "../../src/flow/map-sizing.ts";

/** A batch with its rows also as objects (the columns are only valid until the next eviction). */
export type TestBatch = FlowBatch & { records: FlowRecord[] };

export class ProgramUnderTest implements Disposable {
  private constructor(readonly object: FlowObject, readonly evictor: FlowEvictor) {}

  /**
   * `maxFlows`: a fixed map size (floor = ceiling), unless `sizing` says
   * otherwise; `values`: per-CPU or shared values (default: this machine's);
   * `filter`: filter rules loaded with it (none: the filter is compiled out);
   * `processes`: process attribution on (its hooks loaded, not attached);
   * `sampling`: --sampling N (default 1: every packet); `dns`: --enable-dns
   * on that port (default: off, compiled out).
   */
  static async load(maxFlows = 1024, sizing?: Partial<MapSizingOptions>, values?: FlowValues, filter?: FilterConfig, processes?: boolean, sampling?: number, dns?: { port: number }): Promise<ProgramUnderTest> {
    const options = { minimum: maxFlows, ceiling: maxFlows, highWater: 0.75, shrinkAfter: 3, ...sizing };
    const object = await FlowObject.load({ initialFlows: FlowEvictor.initialCapacity(options), values, filter, processes, sampling, dns });
    try {
      return new ProgramUnderTest(object, new FlowEvictor(object, { names: (i) => `if${i}`, sizing: options }));
    } catch (error) {
      object.close();
      throw error;
    }
  }

  /** Runs the ingress (or egress) program `times` times on the packet; returns its verdict. */
  run(packet: Uint8Array, { times = 1, egress = false, gsoSegs = 0, gsoSize = 0 } = {}): number {
    const fd = egress ? this.object.egressFd : this.object.ingressFd;
    return progTestRun(fd, packet, times, gsoSegs ? { gsoSegs, gsoSize } : undefined).retval;
  }

  /** Everything accounted since the last call. */
  async evict(options: { early?: boolean; final?: boolean } = {}): Promise<TestBatch> {
    const batch = await this.evictor.evict(options);
    return { ...batch, records: batch.flows.records() };
  }

  [Symbol.dispose]() {
    this.evictor.close();
    this.object.close();
  }
}

/** Both kinds of flows map values: kernel tests run against each. */
export const FLOW_VALUES: FlowValues[] = ["per-cpu", "shared"];
