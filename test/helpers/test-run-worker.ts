/**
 * A second thread running the program with BPF_PROG_TEST_RUN while the main
 * thread evicts (test/bpf/exact-swap.test.ts). File descriptors are the
 * process's, so the program fd is usable here as is.
 */
import { progTestRun } from "../../src/bpf/libbpf.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ fd: number; packets: Uint8Array[]; rounds: number; repeat: number }>) => {
  const { fd, packets, rounds, repeat } = event.data;
  for (let round = 0; round < rounds; round++) progTestRun(fd, packets[round % packets.length]!, repeat);
  self.postMessage("done");
};
