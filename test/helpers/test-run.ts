/**
 * The real program in the kernel, fed crafted packets with BPF_PROG_TEST_RUN,
 * its flows read back through the real eviction path.
 */
import { FlowObject } from "../../src/bpf/flow-object.ts";
import { progTestRun } from "../../src/bpf/libbpf.ts";
import { FlowEvictor } from "../../src/flow/evict-flows.ts";
import type { FlowBatch } from "../../src/flow/flow-record.ts";

export class ProgramUnderTest implements Disposable {
  private constructor(readonly object: FlowObject, readonly evictor: FlowEvictor) {}

  static async load(maxFlows = 1024): Promise<ProgramUnderTest> {
    const object = await FlowObject.load({ maxFlows });
    return new ProgramUnderTest(object, new FlowEvictor(object, { names: (i) => `if${i}`, graceMs: 1 }));
  }

  /** Runs the ingress (or egress) program `times` times on the packet; returns its verdict. */
  run(packet: Uint8Array, { times = 1, egress = false } = {}): number {
    const fd = egress ? this.object.egressFd : this.object.ingressFd;
    return progTestRun(fd, packet, times).retval;
  }

  /** Everything accounted since the last call. */
  evict(): Promise<FlowBatch> {
    return this.evictor.evict();
  }

  [Symbol.dispose]() {
    this.evictor.close();
    this.object.close();
  }
}
