/**
 * The flow program runs on kernels without BTF; only the drop tracer needs it.
 *
 * libbpf loads the running kernel's BTF (and fails where there is none) when
 * an object has CO-RE relocations, extern kernel symbols (.ksyms), or a
 * program whose attach point is a BTF id (tp_btf, fentry/fexit, lsm, iter,
 * struct_ops). Read from the objects themselves: bpf/flow.bpf.o has none of
 * them, so every feature in it (flows, filter rules, sampling, DNS, RTT,
 * process attribution) loads without BTF; bpf/drops.bpf.o has both, which is
 * why it is an object of its own (the agent warns once and runs without it).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

interface Section {
  name: string;
  bytes: Uint8Array;
}

/** The sections of a 64-bit little-endian ELF file (what clang -target bpf writes). */
function sections(path: string): Section[] {
  const elf = new Uint8Array(readFileSync(path));
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (v.getUint32(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error(`${path}: not a 64-bit little-endian ELF`);
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  const header = (i: number) => {
    const at = shoff + i * shentsize;
    return { nameAt: v.getUint32(at, true), offset: Number(v.getBigUint64(at + 0x18, true)), size: Number(v.getBigUint64(at + 0x20, true)) };
  };
  const strings = header(shstrndx);
  const nameOf = (at: number) => {
    let end = strings.offset + at;
    while (elf[end] !== 0) end++;
    return new TextDecoder().decode(elf.subarray(strings.offset + at, end));
  };
  return Array.from({ length: shnum }, (_, i) => {
    const h = header(i);
    return { name: nameOf(h.nameAt), bytes: elf.subarray(h.offset, h.offset + h.size) };
  });
}

/** Bytes of CO-RE relocation records in .BTF.ext (its header: magic, version, flags, hdr_len, then offset/length pairs; core_relo is the third, from hdr_len 32). */
function coreRelocationBytes(all: Section[]): number {
  const ext = all.find((s) => s.name === ".BTF.ext");
  if (!ext) return 0;
  const v = new DataView(ext.bytes.buffer, ext.bytes.byteOffset, ext.bytes.byteLength);
  expect(v.getUint16(0, true)).toBe(0xeb9f);
  const headerLength = v.getUint32(4, true);
  return headerLength >= 32 ? v.getUint32(28, true) : 0;
}

const NEEDS_KERNEL_BTF = /^(tp_btf|fentry|fexit|fmod_ret|lsm|iter|struct_ops)[/.]/;
const object = (name: string) => sections(join(import.meta.dir, "..", "..", "bpf", `${name}.bpf.o`));

describe("what needs the kernel's BTF", () => {
  test("bpf/flow.bpf.o: no CO-RE relocation, no kernel symbol, no BTF-attached program", () => {
    const flow = object("flow");
    expect(coreRelocationBytes(flow)).toBe(0);
    expect(flow.filter((s) => s.name === ".ksyms" || NEEDS_KERNEL_BTF.test(s.name)).map((s) => s.name)).toEqual([]);
    // The programs it has: TC, cgroup socket hooks, sock_ops.
    expect(flow.some((s) => s.name === "tc")).toBe(true);
  });

  test("bpf/drops.bpf.o: CO-RE relocations and a tp_btf program, so it is loaded apart", () => {
    const drops = object("drops");
    expect(coreRelocationBytes(drops)).toBeGreaterThan(0);
    expect(drops.filter((s) => NEEDS_KERNEL_BTF.test(s.name)).map((s) => s.name)).toEqual(["tp_btf/kfree_skb"]);
  });
});
