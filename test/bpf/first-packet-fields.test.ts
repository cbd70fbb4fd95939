/**
 * "DSCP, ICMP type/code, MACs, VLAN and the link-layer header length are
 * those of the flow's first packet in the interval" (README, bpf/flow.h),
 * with per-CPU values too: one flow's packets run on CPU 0 and CPU 1 (the
 * test thread pinned with taskset; BPF_PROG_TEST_RUN runs an skb program on
 * the calling CPU), in both orders, and the drained flow carries the fields
 * of the CPU that saw it first, not of the lowest CPU or of the last.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { possibleCpus } from "../../src/bpf/libbpf.ts";
import { macText } from "../../src/flow/flow-format.ts";
import { kernelDescribe } from "../helpers/kernel-test.ts";
import { isRoot } from "../helpers/netns.ts";
import { bytes, ethernet, ipv4, MAC_B, udp, vlanTag } from "../helpers/packets.ts";
import { FLOW_VALUES, ProgramUnderTest } from "../helpers/test-run.ts";

const TC_ACT_UNSPEC = -1;

/** The CPU this thread last ran on: field 39 of /proc/thread-self/stat (proc(5)). */
function currentCpu(): number {
  const stat = readFileSync("/proc/thread-self/stat", "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[39 - 3]);
}

/** Moves this (the JS) thread to `cpu`: it waits in the spawn, and wakes up there. */
function pinTo(cpu: number) {
  const pinned = Bun.spawnSync(["taskset", "-p", "-c", String(cpu), String(process.pid)], { stdout: "ignore", stderr: "pipe" });
  if (pinned.exitCode !== 0) throw new Error(`taskset -c ${cpu}: ${pinned.stderr.toString()}`);
}

const udpHeader = udp(40001, 7000, 8);
const ip = (dscp: number) => ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: udpHeader.length + 8, tos: dscp << 2 });
// One flow key (same interface, EtherType after the tags, addresses, ports); every first-packet field differs.
const first = bytes(ethernet(0x8100, MAC_B, [0x02, 0, 0, 0, 0, 0x01]), vlanTag(100, 0x0800), ip(10), udpHeader, Array(8).fill(1));
const later = bytes(ethernet(0x88a8, MAC_B, [0x02, 0, 0, 0, 0, 0x02]), vlanTag(4000, 0x8100), vlanTag(20, 0x0800), ip(46), udpHeader, Array(8).fill(2));

let originalMask = "";
beforeAll(() => {
  if (isRoot) originalMask = /: ([0-9a-f,]+)\s*$/.exec(Bun.spawnSync(["taskset", "-p", String(process.pid)]).stdout.toString())![1]!;
});
afterAll(() => {
  if (originalMask) Bun.spawnSync(["taskset", "-p", originalMask, String(process.pid)]);
});

kernelDescribe("first-packet fields", () => {
  describe.each(FLOW_VALUES)("%s values", (values) => {
    for (const [firstCpu, laterCpu] of [
      [0, 1],
      [1, 0],
    ] as const)
      test.if(possibleCpus() >= 2)(`first packets on CPU ${firstCpu}, later ones on CPU ${laterCpu}: the first packet's fields`, async () => {
        using prog = await ProgramUnderTest.load(64, undefined, values);
        pinTo(firstCpu);
        expect(currentCpu()).toBe(firstCpu);
        for (let i = 0; i < 3; i++) expect(prog.run(first)).toBe(TC_ACT_UNSPEC);
        // A clock tick apart: first_seen_ns comes from the coarse clock where the kernel has it (1-4 ms ticks).
        await Bun.sleep(20);
        pinTo(laterCpu);
        expect(currentCpu()).toBe(laterCpu);
        for (let i = 0; i < 5; i++) expect(prog.run(later)).toBe(TC_ACT_UNSPEC);
        const { records } = await prog.evict();
        expect(records).toHaveLength(1);
        const flow = records[0]!;
        expect({ packets: flow.packets, bytes: flow.bytes }).toEqual({ packets: 8, bytes: 3 * first.length + 5 * later.length });
        expect({ dscp: flow.dscp, srcMac: macText(flow.srcMac), vlanId: flow.vlanId, l2HeaderLen: flow.l2HeaderLen }).toEqual({
          dscp: 10,
          srcMac: "02:00:00:00:00:01",
          vlanId: 100,
          l2HeaderLen: 18,
        });
        expect(flow.endMs).toBeGreaterThan(flow.startMs);
      });
  });
});
