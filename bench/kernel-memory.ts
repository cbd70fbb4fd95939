/**
 * Kernel memory of the flows maps (memlock of their fds, what Status
 * reports): an empty map of each capacity, then 100,000 flows inserted by the
 * real program (BPF_PROG_TEST_RUN), for shared and per-CPU values. Prints
 * bytes per slot and per flow: the README's formula. Run as root:
 *   bun bench/kernel-memory.ts
 */
import { FlowObject } from "../src/bpf/flow-object.ts";
import { mapMemoryBytes, progTestRun } from "../src/bpf/libbpf.ts";
import { bytes, ethernet, ipv4, udp } from "../test/helpers/packets.ts";

const FLOWS = 100_000;
const rows: Record<string, string | number>[] = [];
for (const values of ["shared", "per-cpu"] as const)
  for (const capacity of [131_072, 1_048_576]) {
    using object = await FlowObject.load({ initialFlows: capacity, values });
    const fd = object.flowMaps.active.fd;
    const empty = mapMemoryBytes(fd);
    for (let i = 0; i < FLOWS; i++)
      progTestRun(object.ingressFd, bytes(ethernet(0x0800), ipv4({ protocol: 17, src: `198.18.${(i >> 8) & 255}.${i & 255}`, dst: "198.18.0.2", payloadLength: 8 }), udp(1000 + (i >> 16), 53, 0)));
    const full = mapMemoryBytes(fd);
    rows.push({
      values,
      cpus: object.cpus,
      capacity,
      "empty map MiB": (empty / 2 ** 20).toFixed(1),
      "B per slot": (empty / capacity).toFixed(1),
      "B per flow": ((full - empty) / FLOWS).toFixed(0),
      "all maps MiB (Status)": (object.kernelMemoryBytes() / 2 ** 20).toFixed(1),
    });
  }
console.table(rows);
