/**
 * A flows map far too small: every packet of every flow still arrives, through
 * the ring buffer, folded into the same flows.
 */
import { describe, expect } from "bun:test";
import { kernelTest } from "../helpers/kernel-test.ts";
import { bytes, ethernet, ipv4, udp } from "../helpers/packets.ts";
import { FLOW_VALUES, ProgramUnderTest } from "../helpers/test-run.ts";

describe.each(FLOW_VALUES)("%s values", (values) => {
  kernelTest("16-entry map, 1000 flows: exact packets and bytes for each", async () => {
    using prog = await ProgramUnderTest.load(16, undefined, values);
    const expected = new Map<number, { packets: number; bytes: number }>();
    const before = prog.object.readCounters();
    for (let i = 0; i < 1000; i++) {
      const srcPort = 10000 + i;
      const packet = bytes(ethernet(0x0800), ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 8 + (i % 50) }), udp(srcPort, 53, i % 50), Array(i % 50).fill(1));
      const times = 1 + (i % 3);
      prog.run(packet, { times });
      expected.set(srcPort, { packets: times, bytes: times * packet.length });
    }
    const { records, counters } = await prog.evict();
    const seen = new Map(records.map((r) => [r.srcPort, { packets: r.packets, bytes: r.bytes }]));
    expect(records).toHaveLength(1000);
    expect(seen).toEqual(expected);
    // Most packets went the ring-buffer way, and none were dropped.
    expect(counters.ringbufPackets - before.ringbufPackets).toBeGreaterThan(1500);
    expect(counters.droppedPackets).toBe(before.droppedPackets);
  });

  kernelTest("flows in the map and flows through the ring buffer are both reported", async () => {
    using prog = await ProgramUnderTest.load(1, undefined, values);
    const a = bytes(ethernet(0x0800), ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 8 }), udp(1, 2, 0));
    const b = bytes(ethernet(0x0800), ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 8 }), udp(3, 4, 0));
    prog.run(a, { times: 5 }); // fills the one-entry map
    prog.run(b, { times: 7 }); // overflows
    const { records } = await prog.evict();
    expect(records.map((r) => [r.srcPort, r.packets]).sort()).toEqual([[1, 5], [3, 7]]);
  });
});
