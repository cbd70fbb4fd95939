/**
 * 1-in-N packet sampling in the kernel (--sampling, a filter rule's
 * sample=N), through BPF_PROG_TEST_RUN: each run of the program draws
 * bpf_get_prandom_u32() % N, so n runs keep Binomial(n, 1/N) packets. The
 * bounds are 3σ of that binomial (a false failure 3 times in 1000 runs of a
 * bound). Counts stay raw; the flow carries N.
 */
import { afterEach, expect, test } from "bun:test";
import { defaultFilterAction, parseFilterRules } from "../../src/filter/filter-rule.ts";
import { kernelDescribe } from "../helpers/kernel-test.ts";
import { bytes, ethernet, ipv4, payload, udp } from "../helpers/packets.ts";
import { FLOW_VALUES, ProgramUnderTest } from "../helpers/test-run.ts";

const TC_ACT_UNSPEC = -1;
const RUNS = 100_000;
let prog: ProgramUnderTest | undefined;
afterEach(() => {
  prog?.[Symbol.dispose]();
  prog = undefined;
});

const v4udp = (dport: number, size = 10) =>
  bytes(ethernet(0x0800), ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 8 + size }), udp(40000, dport, size), payload(size));

/** |kept − n/N| ≤ 3σ of Binomial(n, 1/N). */
function expectBinomial(kept: number, n: number, rate: number) {
  const p = 1 / rate;
  const sigma = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(kept - n * p)).toBeLessThanOrEqual(3 * sigma);
}

/** Runs `packet` RUNS times (one BPF_PROG_TEST_RUN with repeat) and evicts. */
async function runAndEvict(packet: Uint8Array, times = RUNS) {
  expect(prog!.run(packet, { times })).toBe(TC_ACT_UNSPEC);
  return (await prog!.evict()).records;
}

kernelDescribe("sampling (BPF_PROG_TEST_RUN)", () => {
  for (const values of FLOW_VALUES) {
    test(`${values} values: --sampling 1 counts every packet exactly, and the flow says nothing of sampling`, async () => {
      prog = await ProgramUnderTest.load(1024, undefined, values, undefined, false, 1);
      const packet = v4udp(9);
      const records = await runAndEvict(packet);
      expect(records).toHaveLength(1);
      expect(records[0]!.packets).toBe(RUNS);
      expect(records[0]!.bytes).toBe(RUNS * packet.length);
      expect(records[0]!.sampling).toBeUndefined();
    });

    test(`${values} values: --sampling 100 keeps Binomial(100k, 1/100) packets, raw, and the flow carries 100`, async () => {
      prog = await ProgramUnderTest.load(1024, undefined, values, undefined, false, 100);
      const packet = v4udp(9);
      const records = await runAndEvict(packet);
      expect(records).toHaveLength(1);
      const r = records[0]!;
      expectBinomial(r.packets, RUNS, 100);
      expect(r.bytes).toBe(r.packets * packet.length);
      expect(r.sampling).toBe(100);
    });
  }

  test("a rule's sample=N: what it accepts is sampled 1 in N, other traffic at --sampling", async () => {
    const rules = parseFilterRules(["accept proto=udp dst-port=53 sample=10", "accept proto=udp dst-port=123 sample=1"].map((text) => ({ text, source: { flag: "--filter" } })));
    prog = await ProgramUnderTest.load(1024, undefined, undefined, { rules, defaultAction: defaultFilterAction(rules, "accept") }, false, 100);
    const dns = v4udp(53);
    const ntp = v4udp(123);
    const other = v4udp(9);
    const [d] = await runAndEvict(dns);
    expectBinomial(d!.packets, RUNS, 10);
    expect(d!.sampling).toBe(10);
    // sample=1 overrides --sampling 100: every packet, exactly.
    const [n] = await runAndEvict(ntp, 5000);
    expect(n!.packets).toBe(5000);
    expect(n!.sampling).toBeUndefined();
    // No rule names port 9: the default accepts it, at --sampling.
    const [o] = await runAndEvict(other);
    expectBinomial(o!.packets, RUNS, 100);
    expect(o!.sampling).toBe(100);
  });

  test("a rule's sample=N without --sampling; rejected packets are counted whole, before sampling", async () => {
    const rules = parseFilterRules(["accept dst-port=53 proto=udp sample=1000", "reject proto=udp dst-port=54"].map((text) => ({ text, source: { flag: "--filter" } })));
    prog = await ProgramUnderTest.load(1024, undefined, undefined, { rules, defaultAction: defaultFilterAction(rules, "accept") }, false, 1);
    const [d] = await runAndEvict(v4udp(53));
    expectBinomial(d?.packets ?? 0, RUNS, 1000);
    if (d) expect(d.sampling).toBe(1000);
    const rejected = v4udp(54);
    expect(await runAndEvict(rejected, 777)).toHaveLength(0);
    expect(prog.object.filter!.readCounts().byRule[1]).toEqual({ packets: 777, bytes: 777 * rejected.length });
    const [o] = await runAndEvict(v4udp(9), 3000);
    expect(o!.packets).toBe(3000);
    expect(o!.sampling).toBeUndefined();
  });
});
