/**
 * Wire packets (BPF_PROG_TEST_RUN with skb_shinfo's gso_segs set): a GSO skb
 * counts as its segments, and its bytes as what they put on the wire — the
 * skb's bytes plus the headers each further segment repeats.
 */
import { $ } from "bun";
import { describe, expect } from "bun:test";
import { kernelTest } from "../helpers/kernel-test.ts";
import { bytes, ethernet, ipv4, ipv6, tcp, TCP, udp, vlanTag } from "../helpers/packets.ts";
import { FLOW_VALUES, ProgramUnderTest } from "../helpers/test-run.ts";

kernelTest("struct __sk_buff: gso_segs at 164, gso_size at 176 (the offsets progTestRun writes)", async () => {
  const types = JSON.parse(await $`bpftool btf dump file /sys/kernel/btf/vmlinux -j`.text()).types as { kind: string; name?: string; members?: { name: string; bits_offset: number }[] }[];
  const skb = types.find((t) => t.kind === "STRUCT" && t.name === "__sk_buff")!;
  const offset = (name: string) => skb.members!.find((m) => m.name === name)!.bits_offset / 8;
  expect([offset("gso_segs"), offset("gso_size")]).toEqual([164, 176]);
});

describe.each(FLOW_VALUES)("%s values", (values) => {
  kernelTest("a TSO skb of 10 segments: 10 packets, skb bytes + 9 × (Ethernet + IPv4 + TCP header)", async () => {
    using prog = await ProgramUnderTest.load(1024, undefined, values);
    const payload = 10 * 300; // a test run takes at most a page of packet
    const packet = bytes(ethernet(0x0800), ipv4({ protocol: 6, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 20 + payload }), tcp(40000, 5201, TCP.ACK), Array(payload).fill(0));
    prog.run(packet, { gsoSegs: 10, gsoSize: 300, egress: true });
    prog.run(packet, { gsoSegs: 10, gsoSize: 300, egress: true });
    const { records } = await prog.evict();
    expect(records).toHaveLength(1);
    expect(records[0]!.packets).toBe(20);
    expect(records[0]!.bytes).toBe(2 * (packet.length + 9 * (14 + 20 + 20)));
  });

  kernelTest("headers counted per segment follow the packet: VLAN tag, IPv6, UDP (USO)", async () => {
    using prog = await ProgramUnderTest.load(1024, undefined, values);
    const payload = 4 * 700;
    const packet = bytes(ethernet(0x8100), vlanTag(7, 0x86dd), ipv6({ nextHeader: 17, src: "fd00::1", dst: "fd00::2", payloadLength: 8 + payload }), udp(5000, 6000, payload), Array(payload).fill(0));
    prog.run(packet, { gsoSegs: 4, gsoSize: 700 });
    const { records } = await prog.evict();
    expect(records[0]).toMatchObject({ packets: 4, bytes: packet.length + 3 * (14 + 4 + 40 + 8) });
  });

  kernelTest("an skb that is not GSO (gso_segs 0 or 1) is one packet of skb->len bytes", async () => {
    using prog = await ProgramUnderTest.load(1024, undefined, values);
    const packet = bytes(ethernet(0x0800), ipv4({ protocol: 6, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 20 }), tcp(1, 2, TCP.ACK));
    prog.run(packet);
    prog.run(packet, { gsoSegs: 1, gsoSize: 0 });
    const { records } = await prog.evict();
    expect(records[0]).toMatchObject({ packets: 2, bytes: 2 * packet.length });
  });
});
