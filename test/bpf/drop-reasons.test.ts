/**
 * Drop reason names read from BTF (src/bpf/drop-reasons.ts): a hand-built BTF
 * blob with every byte annotated, then the running kernel's vmlinux compared
 * member for member with bpftool's dump of the same enum and with the
 * kfree_skb tracepoint's own list of names.
 */
import { describe, expect, test } from "bun:test";
import { $ } from "bun";
import {
  BtfFormatError,
  dropReasonName,
  dropReasonsFromTraceFormat,
  findBtfEnum,
  KERNEL_BTF_PATH,
  readDropReasons,
  type EnumMember,
} from "../../src/bpf/drop-reasons.ts";
import { BpfError } from "../../src/bpf/errors.ts";
import { kernelTest, testNeeding } from "../helpers/kernel-test.ts";
import { existsSync } from "node:fs";

const hasBtf = existsSync(KERNEL_BTF_PATH);
const btfTest = testNeeding({ "kernel BTF": hasBtf }, "BTF test");
const bpftoolTest = testNeeding({ "kernel BTF": hasBtf, bpftool: Bun.which("bpftool", { PATH: `${process.env.PATH}:/usr/sbin:/sbin` }) !== null }, "BTF test");

/**
 * A BTF blob: [1] INT 'int', [2] ENUM 'skb_drop_reason' {SKB_NOT_DROPPED_YET=0,
 * SKB_DROP_REASON_NO_SOCKET=3, SKB_DROP_REASON_SUBSYS_MASK=0xffff0000},
 * [3] ENUM64 'wide' signed {W_NEG=-2, W_BIG=2^40}, [4] STRUCT 'pair' with two members.
 */
function fixture(little = true): Uint8Array {
  const strings = ["", "int", "skb_drop_reason", "SKB_NOT_DROPPED_YET", "SKB_DROP_REASON_NO_SOCKET", "SKB_DROP_REASON_SUBSYS_MASK", "wide", "W_NEG", "W_BIG", "pair", "x", "y"];
  const offsets = new Map<string, number>();
  let strLen = 0;
  for (const s of strings) {
    offsets.set(s, strLen);
    strLen += s.length + 1;
  }
  const str = (s: string) => offsets.get(s)!;
  const info = (kind: number, vlen: number, kindFlag = 0) => ((kindFlag << 31) | (kind << 24) | vlen) >>> 0;
  const words: number[] = [
    // [1] INT 'int': name_off, info (kind 1), size 4; then encoding u32 (signed, 32 bits)
    str("int"), info(1, 0), 4, (1 << 24) | 32,
    // [2] ENUM 'skb_drop_reason': kind 6, vlen 3, unsigned (kind_flag 0), size 4; then {name_off, val} × 3
    str("skb_drop_reason"), info(6, 3), 4,
    str("SKB_NOT_DROPPED_YET"), 0,
    str("SKB_DROP_REASON_NO_SOCKET"), 3,
    str("SKB_DROP_REASON_SUBSYS_MASK"), 0xffff0000,
    // [3] ENUM64 'wide': kind 19, vlen 2, signed (kind_flag 1), size 8; then {name_off, lo32, hi32} × 2
    str("wide"), info(19, 2, 1), 8,
    str("W_NEG"), 0xfffffffe, 0xffffffff,
    str("W_BIG"), 0, 0x100,
    // [4] STRUCT 'pair': kind 4, vlen 2, size 8; then {name_off, type, bits_offset} × 2
    str("pair"), info(4, 2), 8,
    str("x"), 1, 0,
    str("y"), 1, 32,
  ];
  const typeLen = words.length * 4;
  const header = 24;
  const blob = new Uint8Array(header + typeLen + strLen);
  const view = new DataView(blob.buffer);
  view.setUint16(0, 0xeb9f, little); // magic
  view.setUint8(2, 1); // version
  view.setUint8(3, 0); // flags
  view.setUint32(4, header, little); // hdr_len
  view.setUint32(8, 0, little); // type_off (from the end of the header)
  view.setUint32(12, typeLen, little); // type_len
  view.setUint32(16, typeLen, little); // str_off
  view.setUint32(20, strLen, little); // str_len
  words.forEach((w, i) => view.setUint32(header + i * 4, w, little));
  let at = header + typeLen;
  for (const s of strings) {
    blob.set(new TextEncoder().encode(s), at);
    at += s.length + 1; // and its NUL, already zero
  }
  return blob;
}

describe("BTF enums from a built blob", () => {
  for (const little of [true, false]) {
    test(`${little ? "little" : "big"}-endian: ENUM unsigned, ENUM64 signed and wide, past a STRUCT`, () => {
      const blob = fixture(little);
      expect(findBtfEnum(blob, "skb_drop_reason")).toEqual([
        { name: "SKB_NOT_DROPPED_YET", value: 0 },
        { name: "SKB_DROP_REASON_NO_SOCKET", value: 3 },
        { name: "SKB_DROP_REASON_SUBSYS_MASK", value: 0xffff0000 },
      ]);
      expect(findBtfEnum(blob, "wide")).toEqual([
        { name: "W_NEG", value: -2 },
        { name: "W_BIG", value: 2 ** 40 },
      ]);
      expect(findBtfEnum(blob, "pair")).toBeUndefined();
      expect(findBtfEnum(blob, "skb_drop")).toBeUndefined();
    });
  }

  test("bad magic and cut-off sections are named", () => {
    const blob = fixture();
    blob[0] = 0;
    expect(() => findBtfEnum(blob, "x", "test.btf")).toThrow(new BtfFormatError("test.btf", "magic 0xeb00 is not 0xeb9f"));
    const cut = fixture().subarray(0, 40);
    expect(() => findBtfEnum(cut, "x", "test.btf")).toThrow(
      new BtfFormatError("test.btf", "sections (types 24–148, strings 148–269) run past its 40 bytes"),
    );
  });

  test("a missing BTF file says what degrades", () => {
    const error = (() => {
      try {
        readDropReasons("/nonexistent/vmlinux");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(BpfError);
    expect((error as Error).message).toBe(
      "reading the kernel's drop reason names from /nonexistent/vmlinux: ENOENT (no such file: the kernel was built without CONFIG_DEBUG_INFO_BTF) — the drop tracer needs them (and the kernel's BTF for itself): --enable-drops stays off; everything else runs",
    );
  });

  test("the tracepoint's print fmt lists reasons", () => {
    const format = `print fmt: "skbaddr=%p reason: %s", REC->skbaddr, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 128, "MAX" })\n`;
    expect(dropReasonsFromTraceFormat(format)).toEqual(new Map([[2, "NOT_SPECIFIED"], [3, "NO_SOCKET"], [128, "MAX"]]));
    expect(dropReasonsFromTraceFormat("print fmt: \"x\"")).toBeUndefined();
  });
});

/** `'NAME' val=V` lines of `bpftool btf dump … format raw` under the ENUM/ENUM64 named `name`. */
function bpftoolEnum(dump: string, name: string): EnumMember[] {
  const lines = dump.split("\n");
  const start = lines.findIndex((l) => new RegExp(`^\\[\\d+\\] ENUM(64)? '${name}' .*vlen=\\d+$`).test(l));
  expect(start).toBeGreaterThanOrEqual(0);
  const vlen = Number(lines[start]!.match(/vlen=(\d+)/)![1]);
  return lines.slice(start + 1, start + 1 + vlen).map((l) => {
    const [, member, value] = l.match(/^\s+'([^']+)' val=(-?\d+)(?:ULL|LL)?$/)!;
    return { name: member!, value: Number(value) };
  });
}

describe("the running kernel's enum skb_drop_reason", () => {
  bpftoolTest("matches bpftool's dump member for member", async () => {
    const dump = await $`bpftool btf dump file ${KERNEL_BTF_PATH} format raw`.quiet().text();
    const expected = bpftoolEnum(dump, "skb_drop_reason");
    const started = performance.now();
    const members = findBtfEnum(await Bun.file(KERNEL_BTF_PATH).bytes(), "skb_drop_reason");
    console.log(`${members?.length} members parsed in ${(performance.now() - started).toFixed(1)} ms`);
    expect(members).toEqual(expected);
    expect(expected.length).toBeGreaterThan(10);
  });

  btfTest("names the reasons every kernel since 5.17 has, prefix stripped", () => {
    const reasons = readDropReasons();
    const byName = new Map([...reasons].map(([value, name]) => [name, value]));
    for (const name of ["NOT_SPECIFIED", "NO_SOCKET", "NETFILTER_DROP", "QDISC_DROP", "OTHERHOST", "TCP_CSUM"]) expect(byName.has(name)).toBe(true);
    expect(reasons.get(2)).toBe("NOT_SPECIFIED");
    expect(reasons.get(1)).toBe("CONSUMED");
    expect(byName.has("MAX")).toBe(false);
    expect(dropReasonName(reasons, 0xffff_0001)).toBe(`UNKNOWN(${0xffff_0001})`);
  });

  // tracefs is not mounted on every host: it is mounted here in a private mount namespace, which goes away with it.
  kernelTest("agrees with the kfree_skb tracepoint's own list", async () => {
    const format = await $`unshare -m sh -c ${"mount -t tracefs nodev /sys/kernel/tracing && cat /sys/kernel/tracing/events/skb/kfree_skb/format"}`.quiet().text();
    const fromTrace = dropReasonsFromTraceFormat(format);
    expect(fromTrace).toBeDefined();
    const fromBtf = readDropReasons();
    for (const [value, name] of fromTrace!) if (name !== "MAX") expect([value, fromBtf.get(value)]).toEqual([value, name]);
    expect(fromTrace!.size).toBeGreaterThan(10);
  });
});

