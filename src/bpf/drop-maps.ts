/**
 * The drop tracer (bpf/drops.bpf.c, --enable-drops): its own object, loaded
 * apart from flow.bpf.o because it needs the running kernel's BTF and
 * CAP_PERFMON: when it cannot load, only drops are missing.
 *
 * Owns the object, its two inner drops maps (created here, swapped like the
 * flows maps: the kernel returns from the outer-map update only after an RCU
 * grace period, so the old map is written by nobody and drains exactly) and
 * the tracepoint link. close() (or `using`) detaches and releases it all.
 */
import dropsObjectPath from "../../bpf/drops.bpf.o" with { type: "file" };
import { BpfError } from "./errors.ts";
import { DROP_COUNTERS, DROP_KNOBS, DROP_REASON_SLOTS, DROP_RECORD, FLOW_KEY } from "./flow-layout.ts";
import {
  BPF_F_NO_PREALLOC,
  BPF_MAP_TYPE_HASH,
  closeFd,
  closeObject,
  findMap,
  findProgram,
  innerMap,
  libbpfLogMark,
  libbpfLogSince,
  linkCreate,
  loadObject,
  mapFd,
  mapGeometry,
  mapLookup,
  mapCreate,
  mapLookupBatch,
  mapMemoryBytes,
  mapUpdate,
  networkNamespaceCookie,
  openObjectFromMemory,
  possibleCpus,
  programFd,
  setMapInitialValue,
  type MapHandle,
  type ObjectHandle,
} from "./libbpf.ts";
import { explainLoadFailure } from "./verifier-log.ts";
import type { DropReasons } from "./drop-reasons.ts";
import { BatchDrain } from "./batch-drain.ts";
import { PerCpuCounters } from "./per-cpu-counters.ts";

/** enum bpf_attach_type BPF_TRACE_RAW_TP: a tp_btf program's attach type. */
const BPF_TRACE_RAW_TP = 23;
/** Records one drops map holds between two evictions (distinct flows with drops); past it, drops are counted as lost (mapFull). */
export const DROPS_MAP_ENTRIES = 16384;

/** One drain of the drops map: `count` rows of struct flow_key and struct drop_record, valid until the next drain. */
export interface DropRows {
  keys: Uint8Array;
  records: Uint8Array;
  count: number;
}

/** struct drop_counters summed over CPUs: what the tracer saw and could not put on a flow. They only grow. */
export interface DropCounters {
  /** Drops put on a flow's record. */
  recorded: number;
  /** Drops lost because the drops map was full. */
  mapFull: number;
  /** Drops of non-IP packets (counted by reason only). */
  notIp: number;
  /** Drops with no device known (counted by reason only). */
  noDevice: number;
  /** Drops in another network namespace (ignored). */
  otherNetns: number;
}

export async function embeddedDropsObject(): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(dropsObjectPath).arrayBuffer());
}

export class DropTracer implements Disposable {
  private readonly rows = new BatchDrain("drops", FLOW_KEY.size, DROP_RECORD.size);
  private readonly slotKey = new Uint8Array(4);
  private link = -1;
  private closed = false;
  private reasonKeys: Uint8Array | undefined;
  private reasonSlots: BigUint64Array | undefined;
  private readonly reasonToken = new Uint8Array(4);
  private readonly counters: PerCpuCounters<keyof typeof DROP_COUNTERS.fields>;

  private constructor(
    private readonly handle: ObjectHandle,
    private readonly programFd: number,
    private readonly outerFd: number,
    /** The map programs write now, and the one drained last (empty). */
    private active: number,
    private spare: number,
    private readonly reasonsFd: number,
    private readonly countersFd: number,
    private readonly cpus: number,
  ) {
    this.counters = new PerCpuCounters(countersFd, DROP_COUNTERS, cpus, "drop_counters");
  }

  /**
   * Loads the object (not yet attached): `netnsCookie` is the namespace whose
   * devices' drops are kept (the agent's). Throws a BpfError saying why when
   * the kernel cannot run it (no BTF, kernel before 5.17, no CAP_PERFMON).
   */
  static async load(options: { reasons: DropReasons; objectBytes?: Uint8Array; netnsCookie?: bigint }): Promise<DropTracer> {
    const bytes = options.objectBytes ?? (await embeddedDropsObject());
    const handle = openObjectFromMemory(bytes, "netflow_drops");
    const created: number[] = [];
    try {
      const rodata = requireMap(handle, ".rodata");
      if (mapGeometry(rodata).valueSize !== DROP_KNOBS.size)
        throw new BpfError("map .rodata of bpf/drops.bpf.o", `size ${mapGeometry(rodata).valueSize}, expected ${DROP_KNOBS.size}`, "rebuild bpf/ and src/ together");
      const knobs = new Uint8Array(DROP_KNOBS.size);
      const view = new DataView(knobs.buffer);
      view.setBigUint64(DROP_KNOBS.fields.netns_cookie.offset, options.netnsCookie ?? networkNamespaceCookie(), true);
      view.setUint32(DROP_KNOBS.fields.first_reason.offset, firstCountedReason(options.reasons), true);
      view.setUint32(DROP_KNOBS.fields.backlog_reason.offset, reasonValue(options.reasons, "CPU_BACKLOG") ?? 0, true);
      setMapInitialValue(rodata, knobs, ".rodata");
      // Sizes from the object's BTF against flow-layout.ts, before the kernel sees anything.
      checkSizes(requireMap(handle, "drop_counters"), "drop_counters", 4, DROP_COUNTERS.size);
      const template = innerMap(requireMap(handle, "drops"));
      if (!template) throw new BpfError("opening map drops", "it has no inner map definition", "rebuild bpf/ and src/ together (bun build.ts)");
      checkSizes(template, "drops (inner)", FLOW_KEY.size, DROP_RECORD.size);
      const mark = libbpfLogMark();
      try {
        loadObject(handle, "drops (bpf/drops.bpf.o)");
      } catch (error) {
        throw explainLoadFailure(error, libbpfLogSince(mark));
      }
      const program = findProgram(handle, "drop_trace");
      if (!program) throw new BpfError("loading program drop_trace", "not found in the object", "rebuild bpf/ (bun build.ts)");
      const reasons = requireMap(handle, "drop_reasons");
      if (mapGeometry(reasons).maxEntries !== DROP_REASON_SLOTS)
        throw new BpfError("map drop_reasons", `${mapGeometry(reasons).maxEntries} entries, expected ${DROP_REASON_SLOTS}`, "rebuild bpf/ and src/ together");
      for (let i = 0; i < 2; i++) created.push(createDropsMap());
      const tracer = new DropTracer(handle, programFd(program), mapFd(requireMap(handle, "drops")), created[0]!, created[1]!, mapFd(reasons), mapFd(requireMap(handle, "drop_counters")), possibleCpus());
      tracer.install(tracer.active);
      return tracer;
    } catch (error) {
      for (const fd of created) closeFd(fd);
      closeObject(handle);
      throw error;
    }
  }

  /** Attaches to skb:kfree_skb: from here every drop is counted. */
  attach() {
    if (this.link >= 0) return;
    this.link = linkCreate(this.programFd, 0, BPF_TRACE_RAW_TP, "attaching tp_btf/kfree_skb (drop_trace)");
  }

  private install(fd: number) {
    mapUpdate(this.outerFd, this.slotKey, new Uint8Array(new Uint32Array([fd]).buffer));
  }

  /**
   * Installs the spare map, then reads and deletes every record of the one
   * the program wrote until then: when the update returns no program holds
   * it any more, so every drop is in this drain or the next, once.
   */
  drain(): DropRows {
    const old = this.active;
    this.install(this.spare);
    this.active = this.spare;
    this.spare = old;
    return this.rows.drain(old);
  }

  /** The tracer's counters, summed over CPUs. */
  readCounters(): DropCounters {
    const c = this.counters.read();
    return { recorded: c.recorded, mapFull: c.map_full, notIp: c.not_ip, noDevice: c.no_device, otherNetns: c.other_netns };
  }

  /**
   * Drops of this host's namespace and every other, by reason number (the
   * last slot, DROP_REASON_SLOTS − 1, holds every reason past it), since load.
   * Reasons never seen are left out.
   */
  readReasonTotals(): Map<number, number> {
    // One batch read of the whole per-CPU array (a lookup per slot was 512 syscalls a Status call).
    const keys = (this.reasonKeys ??= new Uint8Array(DROP_REASON_SLOTS * 4));
    const values = (this.reasonSlots ??= new BigUint64Array(DROP_REASON_SLOTS * this.cpus));
    const bytes = new Uint8Array(values.buffer);
    let read = 0;
    for (let first = true; read < DROP_REASON_SLOTS; first = false) {
      const r = mapLookupBatch(this.reasonsFd, first, this.reasonToken, keys.subarray(read * 4), bytes.subarray(read * 8 * this.cpus), DROP_REASON_SLOTS - read);
      read += r.copied;
      if (r.done) break;
    }
    const slots = new Uint32Array(keys.buffer);
    const totals = new Map<number, number>();
    for (let i = 0; i < read; i++) {
      let total = 0;
      for (let cpu = 0; cpu < this.cpus; cpu++) total += Number(values[i * this.cpus + cpu]!);
      if (total) totals.set(slots[i]!, total);
    }
    return totals;
  }

  /** Kernel memory of the two drops maps and the counters. */
  kernelMemoryBytes(): number {
    return mapMemoryBytes(this.active) + mapMemoryBytes(this.spare) + mapMemoryBytes(this.reasonsFd) + mapMemoryBytes(this.countersFd);
  }

  /** Detaches the program and releases the maps and object. Idempotent. */
  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.link >= 0) closeFd(this.link);
    closeFd(this.active);
    closeFd(this.spare);
    closeObject(this.handle);
  }

  [Symbol.dispose]() {
    this.close();
  }
}

/** A reason's number in the running kernel, by name; undefined when it has none. */
function reasonValue(reasons: DropReasons, name: string): number | undefined {
  for (const [value, known] of reasons) if (known === name) return value;
  return undefined;
}

/**
 * The first reason counted: the running kernel's NOT_SPECIFIED + 1 (the enum
 * was renumbered: NOT_SPECIFIED is 0 on 5.17, 1 on 5.18-6.2, 2 since 6.3);
 * everything below is not a drop or not known to be one.
 */
export function firstCountedReason(reasons: DropReasons): number {
  const notSpecified = reasonValue(reasons, "NOT_SPECIFIED");
  if (notSpecified === undefined) throw new BpfError("reading the kernel's drop reasons", "enum skb_drop_reason has no NOT_SPECIFIED", "a kernel this agent does not know: run without --enable-drops");
  return notSpecified + 1;
}

function checkSizes(map: MapHandle, name: string, keySize: number, valueSize: number) {
  const g = mapGeometry(map);
  if (g.keySize !== keySize || g.valueSize !== valueSize)
    throw new BpfError(`map ${name} of bpf/drops.bpf.o`, `key/value ${g.keySize}/${g.valueSize} bytes, expected ${keySize}/${valueSize}`, "rebuild bpf/ and src/ together (bun build.ts)");
}

function createDropsMap(): number {
  return mapCreate(BPF_MAP_TYPE_HASH, "drops_inner", FLOW_KEY.size, DROP_RECORD.size, DROPS_MAP_ENTRIES, BPF_F_NO_PREALLOC);
}

function requireMap(handle: ObjectHandle, name: string): MapHandle {
  const map = findMap(handle, name);
  if (!map) throw new BpfError(`opening map ${name}`, "not found in bpf/drops.bpf.o", "rebuild bpf/ (bun build.ts)");
  return map;
}
