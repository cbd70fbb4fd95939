/**
 * The body of test/bpf/exact-swap.test.ts, run in a process of its own: a
 * Bun Worker calling into bun:ffi left the test process crashing in the
 * next test file (Bun 1.4.5), so the worker lives and dies here. Prints
 * one JSON line: evictions and per-port totals.
 */
import { bytes, ethernet, ipv4, udp } from "../helpers/packets.ts";
import { ProgramUnderTest } from "../helpers/test-run.ts";

using prog = await ProgramUnderTest.load(1024, undefined, "shared");
const packets = Array.from({ length: 64 }, (_, i) =>
  bytes(ethernet(0x0800), ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 8 + i }), udp(20000 + i, 53, i), Array(i).fill(7)),
);
const rounds = 2000;
const repeat = 5000;
const worker = new Worker(new URL("../helpers/test-run-worker.ts", import.meta.url));
const done = new Promise<void>((resolve, reject) => {
  worker.onmessage = () => resolve();
  worker.onerror = (e) => reject(e);
});
worker.postMessage({ fd: prog.object.ingressFd, packets, rounds, repeat });
const seen: Record<number, { packets: number; bytes: number }> = {};
const add = (records: { srcPort: number; packets: number; bytes: number }[]) => {
  for (const r of records) {
    const s = (seen[r.srcPort] ??= { packets: 0, bytes: 0 });
    s.packets += r.packets;
    s.bytes += r.bytes;
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
add((await prog.evict()).records);
console.log(JSON.stringify({ evictions, rounds, repeat, lengths: packets.map((p) => p.length), seen }));
process.exit(0);
