/**
 * libbpf's ring_buffer on a map: a map that is not a ring buffer is refused
 * with the errno libbpf set (read before anything else could overwrite it),
 * named in one line; a real ring buffer opens, reads nothing, and closes.
 */
import { expect } from "bun:test";
import { BpfError } from "../../src/bpf/errors.ts";
import { BPF_MAP_TYPE_HASH, closeFd, mapCreate, ringBufferOpen } from "../../src/bpf/libbpf.ts";
import { kernelTest } from "../helpers/kernel-test.ts";

// include/uapi/linux/bpf.h
const BPF_MAP_TYPE_RINGBUF = 27;

kernelTest("a hash map is not a ring buffer: EINVAL, in one line", () => {
  const fd = mapCreate(BPF_MAP_TYPE_HASH, "rough_hash", 4, 8, 16, 0);
  try {
    let error: unknown;
    try {
      ringBufferOpen(fd, 8, () => {}).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BpfError);
    expect((error as BpfError).errno).toBe(22);
    expect((error as BpfError).message).toBe("opening the overflow ring buffer: EINVAL (invalid argument)");
  } finally {
    closeFd(fd);
  }
});

kernelTest("a ring buffer opens, has nothing to read, closes twice without harm", () => {
  const fd = mapCreate(BPF_MAP_TYPE_RINGBUF, "rough_ring", 0, 0, 4096, 0);
  try {
    const reader = ringBufferOpen(fd, 8, () => {
      throw new Error("no record was written");
    });
    expect(reader.consume()).toBe(0);
    reader.close();
    reader.close();
    expect(reader.consume()).toBe(0);
  } finally {
    closeFd(fd);
  }
});
