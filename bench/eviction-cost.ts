/**
 * Eviction cost: N distinct flows put in the map through BPF_PROG_TEST_RUN,
 * then one eviction timed (map swap with its RCU grace period, batch
 * lookup-and-delete, per-CPU merge where values are per CPU, times to wall
 * clock), for shared and per-CPU values. Run as root: bun bench/eviction-cost.ts
 */
import type { FlowValues } from "../src/bpf/flow-object.ts";
import { bytes, ethernet, ipv4, udp } from "../test/helpers/packets.ts";
import { ProgramUnderTest } from "../test/helpers/test-run.ts";

export async function measureEviction(flows = 100_000, rounds = 3, values: FlowValues = "shared"): Promise<{ flows: number; values: FlowValues; evictionMs: number[] }> {
  using prog = await ProgramUnderTest.load(Math.ceil(flows * 1.1), undefined, values);
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < flows; i++) {
      const src = `198.18.${(i >> 8) & 0xff}.${i & 0xff}`;
      prog.run(bytes(ethernet(0x0800), ipv4({ protocol: 17, src, dst: "198.19.0.1", payloadLength: 8 }), udp(1024 + (i >> 16), 53, 0)));
    }
    const batch = await prog.evictor.evict();
    if (batch.flows.count !== flows) throw new Error(`evicted ${batch.flows.count} flows, expected ${flows}`);
    times.push(batch.evictionMs);
  }
  return { flows, values, evictionMs: times };
}

if (import.meta.main) for (const values of ["shared", "per-cpu"] as const) console.log(await measureEviction(100_000, 5, values));
