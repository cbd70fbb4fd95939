/**
 * The exact swap under concurrency: one thread runs the program millions of
 * times (BPF_PROG_TEST_RUN, inside the kernel's RCU read-side sections like
 * a TC hook) while this thread evicts as fast as it can, swapping the inner
 * map each time. Every packet is in exactly one eviction: per flow, the sum
 * over evictions equals what was run.
 */
import { describe, expect, test } from "bun:test";
import { isRoot } from "../helpers/netns.ts";
import { bytes, ethernet, ipv4, udp } from "../helpers/packets.ts";
import { ProgramUnderTest } from "../helpers/test-run.ts";

describe.each(["shared"] as const)("%s values", (values) => {
  test.if(isRoot)("10,000,000 packets over 64 flows while evicting continuously: every packet counted once", async () => {
    using prog = await ProgramUnderTest.load(1024, undefined, values);
    const packets = Array.from({ length: 64 }, (_, i) =>
      bytes(ethernet(0x0800), ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 8 + i }), udp(20000 + i, 53, i), Array(i).fill(7)),
    );
    const rounds = 2000;
    const repeat = 5000;
    const worker = new Worker(new URL("../helpers/test-run-worker.ts", import.meta.url));
    worker.unref(); // never keeps the test process alive
    const done = new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (e) => reject(e);
    });
    worker.postMessage({ fd: prog.object.ingressFd, packets, rounds, repeat });

    const seen = new Map<number, { packets: number; bytes: number }>();
    const add = (records: { srcPort: number; packets: number; bytes: number }[]) => {
      for (const r of records) {
        const s = seen.get(r.srcPort) ?? { packets: 0, bytes: 0 };
        s.packets += r.packets;
        s.bytes += r.bytes;
        seen.set(r.srcPort, s);
      }
    };
    let evictions = 0;
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      add((await prog.evict()).records);
      evictions++;
      await Bun.sleep(1);
    }
    await done;
    worker.terminate();
    add((await prog.evict()).records);

    expect(evictions).toBeGreaterThan(10);
    for (let i = 0; i < 64; i++) {
      const runs = Math.floor(rounds / 64) + (i < rounds % 64 ? 1 : 0);
      expect({ port: 20000 + i, ...seen.get(20000 + i) }).toEqual({ port: 20000 + i, packets: runs * repeat, bytes: runs * repeat * packets[i]!.length });
    }
  }, 120_000);
});
