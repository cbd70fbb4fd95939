/**
 * Eviction cost: N distinct flows put in the map through BPF_PROG_TEST_RUN,
 * then one eviction timed (batch lookup-and-delete + per-CPU merge + decode),
 * the grace wait after the slot flip excluded.
 */
import { bytes, ethernet, ipv4, udp } from "../test/helpers/packets.ts";
import { ProgramUnderTest } from "../test/helpers/test-run.ts";

export async function measureEviction(flows = 100_000, rounds = 3): Promise<{ flows: number; evictionMs: number[] }> {
  using prog = await ProgramUnderTest.load(Math.ceil(flows * 1.1));
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < flows; i++) {
      const src = `198.18.${(i >> 8) & 0xff}.${i & 0xff}`;
      prog.run(bytes(ethernet(0x0800), ipv4({ protocol: 17, src, dst: "198.19.0.1", payloadLength: 8 }), udp(1024 + (i >> 16), 53, 0)));
    }
    const batch = await prog.evict();
    if (batch.records.length !== flows) throw new Error(`evicted ${batch.records.length} flows, expected ${flows}`);
    times.push(batch.evictionMs);
  }
  return { flows, evictionMs: times };
}

if (import.meta.main) console.log(await measureEviction());
