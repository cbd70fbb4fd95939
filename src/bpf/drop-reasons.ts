/**
 * The names of the kernel's packet drop reasons, as the running kernel numbers
 * them. `enum skb_drop_reason` grows and is renumbered between releases (6.18
 * has 128 reasons; 5.17 had 7), so a table compiled in would name drops wrongly
 * on the next kernel: the names are read at run time from the kernel's own
 * BTF (/sys/kernel/btf/vmlinux), parsed here without bpftool or libbpf.
 *
 * BTF layout (include/uapi/linux/btf.h, Documentation/bpf/btf.rst): a header
 * {magic 0xeB9F u16, version u8, flags u8, hdr_len u32, type_off u32,
 * type_len u32, str_off u32, str_len u32}, then the type section (offsets are
 * from the end of the header): each type is a 12-byte btf_type {name_off u32,
 * info u32 (vlen bits 0–15, kind bits 24–28, kind_flag bit 31), size/type u32}
 * followed by data whose length depends on the kind; then the string section
 * of NUL-terminated names. An ENUM's data is vlen × {name_off u32, val u32};
 * an ENUM64's vlen × {name_off u32, val_lo32 u32, val_hi32 u32}; kind_flag
 * set means the values are signed. The file is in the kernel's byte order.
 *
 * Without BTF (CONFIG_DEBUG_INFO_BTF=n) the tracepoint's own format
 * (tracefs events/skb/kfree_skb/format, whose print fmt lists every reason as
 * `{ value, "NAME" }`) is the other source: dropReasonsFromTraceFormat.
 */
import { readFileSync } from "node:fs";
import { BpfError } from "./errors.ts";

export const KERNEL_BTF_PATH = "/sys/kernel/btf/vmlinux";

/** Drop reason value → name without its prefix ("NO_SOCKET" for SKB_DROP_REASON_NO_SOCKET). */
export type DropReasons = Map<number, string>;

const BTF_MAGIC = 0xeb9f;
const BTF_HEADER_MIN = 24;
const BTF_TYPE_SIZE = 12;

// Kinds (include/uapi/linux/btf.h) and the bytes of data after their btf_type.
const KIND_ENUM = 6;
const KIND_ENUM64 = 19;
/** Bytes after the btf_type: [fixed, per vlen entry] by kind; undefined for a kind this parser does not know. */
const KIND_DATA: ([number, number] | undefined)[] = [
  undefined, // 0 UNKN (never in a type section)
  [4, 0], // 1 INT: encoding u32
  [0, 0], // 2 PTR
  [12, 0], // 3 ARRAY: btf_array
  [0, 12], // 4 STRUCT: btf_member
  [0, 12], // 5 UNION: btf_member
  [0, 8], // 6 ENUM: btf_enum
  [0, 0], // 7 FWD
  [0, 0], // 8 TYPEDEF
  [0, 0], // 9 VOLATILE
  [0, 0], // 10 CONST
  [0, 0], // 11 RESTRICT
  [0, 0], // 12 FUNC
  [0, 8], // 13 FUNC_PROTO: btf_param
  [4, 0], // 14 VAR: btf_var
  [0, 12], // 15 DATASEC: btf_var_secinfo
  [0, 0], // 16 FLOAT
  [4, 0], // 17 DECL_TAG: btf_decl_tag
  [0, 0], // 18 TYPE_TAG
  [0, 12], // 19 ENUM64: btf_enum64
];

/** An enum's members in declaration order: name and value (a bigint only where a number would lose it). */
export interface EnumMember {
  name: string;
  value: number | bigint;
}

/** Thrown for a BTF blob that is not one, or one this parser cannot walk; `what` names the source. */
export class BtfFormatError extends Error {
  override readonly name = "BtfFormatError";
  constructor(what: string, why: string) {
    super(`parsing BTF of ${what}: ${why}`);
  }
}

/**
 * The members of the first ENUM or ENUM64 named `enumName` in `btf`, or
 * undefined when there is none. `what` names the source in errors.
 */
export function findBtfEnum(btf: Uint8Array, enumName: string, what = "a BTF blob"): EnumMember[] | undefined {
  if (btf.byteLength < BTF_HEADER_MIN) throw new BtfFormatError(what, `${btf.byteLength} bytes is shorter than a BTF header`);
  const view = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  const little = view.getUint16(0, true) === BTF_MAGIC;
  if (!little && view.getUint16(0, false) !== BTF_MAGIC)
    throw new BtfFormatError(what, `magic 0x${view.getUint16(0, true).toString(16)} is not 0xeb9f`);
  const u32 = (offset: number) => view.getUint32(offset, little);
  const hdrLen = u32(4);
  const typeStart = hdrLen + u32(8);
  const typeEnd = typeStart + u32(12);
  const strStart = hdrLen + u32(16);
  const strEnd = strStart + u32(20);
  if (hdrLen < BTF_HEADER_MIN || typeEnd > btf.byteLength || strEnd > btf.byteLength)
    throw new BtfFormatError(what, `sections (types ${typeStart}–${typeEnd}, strings ${strStart}–${strEnd}) run past its ${btf.byteLength} bytes`);

  const decoder = new TextDecoder();
  const wanted = new TextEncoder().encode(enumName);
  const stringAt = (offset: number): string => {
    const start = strStart + offset;
    const end = btf.indexOf(0, start);
    return decoder.decode(btf.subarray(start, end < 0 || end > strEnd ? strEnd : end));
  };
  // Compares bytes in place: decoding every type's name would cost more than the walk.
  const nameIs = (offset: number): boolean => {
    const start = strStart + offset;
    if (start + wanted.length >= strEnd || btf[start + wanted.length] !== 0) return false;
    for (let i = 0; i < wanted.length; i++) if (btf[start + i] !== wanted[i]) return false;
    return true;
  };

  for (let at = typeStart, id = 1; at < typeEnd; id++) {
    if (at + BTF_TYPE_SIZE > typeEnd) throw new BtfFormatError(what, `type ${id} at byte ${at} is cut off by the end of the type section`);
    const nameOff = u32(at);
    const info = u32(at + 4);
    const vlen = info & 0xffff;
    const kind = (info >>> 24) & 0x1f;
    const signed = info >>> 31 === 1;
    const data = KIND_DATA[kind];
    if (!data) throw new BtfFormatError(what, `type ${id} has kind ${kind}, which this parser does not know (newer than BTF_KIND_ENUM64)`);
    const membersAt = at + BTF_TYPE_SIZE + data[0];
    if ((kind === KIND_ENUM || kind === KIND_ENUM64) && nameOff !== 0 && nameIs(nameOff)) {
      const members: EnumMember[] = [];
      for (let i = 0; i < vlen; i++) {
        const m = membersAt + i * data[1];
        let value: number | bigint;
        if (kind === KIND_ENUM) value = signed ? view.getInt32(m + 4, little) : u32(m + 4);
        else {
          const wide = (BigInt(u32(m + 8)) << 32n) | BigInt(u32(m + 4));
          value = signed ? BigInt.asIntN(64, wide) : wide;
          if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) value = Number(value);
        }
        members.push({ name: stringAt(u32(m)), value });
      }
      return members;
    }
    at = membersAt + vlen * data[1];
  }
  return undefined;
}

/**
 * The names without their prefix: SKB_DROP_REASON_NO_SOCKET → NO_SOCKET,
 * SKB_CONSUMED → CONSUMED (the spelling of the tracepoint's print fmt).
 * SKB_DROP_REASON_MAX and SKB_DROP_REASON_SUBSYS_MASK bound the enum and
 * are never a drop's reason: left out.
 */
export function dropReasonsFromEnum(members: EnumMember[]): DropReasons {
  const reasons: DropReasons = new Map();
  for (const { name, value } of members) {
    // Only one prefix comes off: SKB_DROP_REASON_SKB_CSUM is SKB_CSUM.
    const short = name.startsWith("SKB_DROP_REASON_") ? name.slice("SKB_DROP_REASON_".length) : name.replace(/^SKB_/, "");
    if (short === "MAX" || short === "SUBSYS_MASK" || typeof value !== "number") continue;
    reasons.set(value, short);
  }
  return reasons;
}

/**
 * Reads `enum skb_drop_reason` from the running kernel's BTF. Throws a
 * BpfError saying what degrades when the kernel has no BTF or no such enum
 * (kernels before 5.17 have no drop reasons).
 */
export function readDropReasons(path = KERNEL_BTF_PATH): DropReasons {
  const doing = `reading the kernel's drop reason names from ${path}`;
  let btf: Uint8Array;
  try {
    btf = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    const why =
      code === "ENOENT" ? "ENOENT (no such file: the kernel was built without CONFIG_DEBUG_INFO_BTF)" : `${code} (${(error as Error).message})`;
    throw new BpfError(doing, why, DEGRADED_WITHOUT_NAMES, { cause: error });
  }
  const members = findBtfEnum(btf, "skb_drop_reason", path);
  if (!members)
    throw new BpfError(doing, "no enum skb_drop_reason (kernels before 5.17 report no drop reasons)", DEGRADED_WITHOUT_NAMES);
  return dropReasonsFromEnum(members);
}

/** What a user gets without the names: the hint of readDropReasons' errors. */
export const DEGRADED_WITHOUT_NAMES =
  "the drop tracer needs them (and the kernel's BTF for itself): --enable-drops stays off; everything else runs";

/**
 * The reasons listed in a tracepoint format's print fmt (`__print_symbolic(REC->reason,
 * { 2, "NOT_SPECIFIED" }, …)`), the source without BTF; undefined if it lists none.
 */
export function dropReasonsFromTraceFormat(format: string): DropReasons | undefined {
  const symbolic = format.match(/__print_symbolic\(REC->reason,(.*?)\)\s*$/m)?.[1];
  if (!symbolic) return undefined;
  const reasons: DropReasons = new Map();
  for (const [, value, name] of symbolic.matchAll(/\{\s*(\d+),\s*"([^"]+)"\s*\}/g)) reasons.set(Number(value), name!);
  return reasons.size > 0 ? reasons : undefined;
}

/** A reason's name, "UNKNOWN(<n>)" for one the kernel did not name (a subsystem's, like OVS's, above bit 16). */
export function dropReasonName(reasons: DropReasons, value: number): string {
  return reasons.get(value) ?? `UNKNOWN(${value})`;
}
