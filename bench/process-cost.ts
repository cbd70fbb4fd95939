/**
 * What process attribution (--enable-process, bpf/owner.h) costs:
 *  - BPF ns/packet with it on and off, through BPF_PROG_TEST_RUN: a known
 *    flow (the same packet repeated: the steady state, which never looks up
 *    an owner) and new flows (one run per distinct packet, ingress: the
 *    connection and listener lookups; includes the syscall, so compare the
 *    two columns, not the absolute figure);
 *  - sockets/s the hooks sustain: socket + bind + close in a loop
 *    (bench/socket-churn.c: sock_create, post_bind4, sock_release each run
 *    once), with the hooks attached and without.
 * Rounds alternate on and off; medians. Run as root: `bun bench/process-cost.ts`.
 */
import { $ } from "bun";
import { join } from "node:path";
import { FlowObject } from "../src/bpf/flow-object.ts";
import { progTestRun } from "../src/bpf/libbpf.ts";
import { ProcessHooks } from "../src/bpf/process-hooks.ts";
import { FlowRows } from "../src/flow/flow-rows.ts";
import { bytes, ethernet, ipv4, tcp, TCP } from "../test/helpers/packets.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const packet = (sport: number) =>
  bytes(ethernet(0x0800), ipv4({ protocol: 6, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 20 }), tcp(sport, 443, TCP.ACK));

const ROUNDS = 7;
using off = await FlowObject.load({ initialFlows: 65536, values: "shared" });
using on = await FlowObject.load({ initialFlows: 65536, values: "shared", processes: true });

const known = { off: [] as number[], on: [] as number[] };
const fresh = { off: [] as number[], on: [] as number[] };
const known4 = packet(40000);
let nextPort = 1;
const rows = new FlowRows();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, object] of [["off", off], ["on", on]] as const) {
    known[name].push(progTestRun(object.ingressFd, known4, 2_000_000).durationNs);
    // 2,000 flows never seen by this object (ports differ per round and object).
    const start = Bun.nanoseconds();
    for (let i = 0; i < 2000; i++) progTestRun(object.ingressFd, packet(1024 + ((nextPort++ * 7) % 60000)), 1);
    fresh[name].push((Bun.nanoseconds() - start) / 2000);
  }
  // Keep the maps from filling: drain both (flows are not the point here).
  for (const object of [off, on]) {
    const old = object.flowMaps.swap(65536);
    object.flowMaps.drain(old, rows);
    object.flowMaps.recycle(old);
    rows.clear();
  }
}

const churn = "/tmp/netflow-socket-churn";
await $`cc -O2 -o ${churn} ${join(import.meta.dir, "socket-churn.c")}`.quiet();
const socketsPerSecond = async () => {
  const r = JSON.parse(await $`${churn} 200000`.text());
  return (r.sockets / r.ns) * 1e9;
};
const sockets = { off: [] as number[], on: [] as number[] };
for (let round = 0; round < 5; round++) {
  sockets.off.push(await socketsPerSecond());
  using hooks = ProcessHooks.attach(on.processes!);
  sockets.on.push(await socketsPerSecond());
  void hooks;
}

const row = (what: string, o: number[], n: number[], unit: string) =>
  console.log(`${what.padEnd(34)} off ${median(o).toFixed(1).padStart(10)}  on ${median(n).toFixed(1).padStart(10)}  ${unit}`);
row("BPF ns/packet, known flow", known.off, known.on, "ns (median of rounds)");
row("new flow (incl. test-run syscall)", fresh.off, fresh.on, "ns per packet");
row("sockets/s (socket+bind+close)", sockets.off, sockets.on, "sockets/s");
console.log(`kernel memory of the attribution maps: ${((on.kernelMemoryBytes() - off.kernelMemoryBytes()) / 1048576).toFixed(1)} MiB (memlock)`);
