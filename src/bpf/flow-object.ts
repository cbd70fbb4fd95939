/**
 * The loaded kernel side: bpf/flow.bpf.o opened from memory, its maps sized,
 * loaded all or nothing, and its key/value sizes checked against
 * flow-layout.ts. Owns the object; close() (or `using`) releases every fd it
 * holds. Attachments are separate (attachments.ts) and must be closed first.
 */
import flowObjectPath from "../../bpf/flow.bpf.o" with { type: "file" };
import type { FlowPrograms, ProgramFds } from "./attachments.ts";
import { BpfError } from "./errors.ts";
import type { LinkLayer } from "./interfaces.ts";
import { FLOW_KEY, FLOW_METRICS, FlowCounter } from "./flow-layout.ts";
import {
  closeObject,
  findMap,
  findProgram,
  libbpfLogMark,
  libbpfLogSince,
  loadObject,
  mapFd,
  mapGeometry,
  mapLookup,
  mapUpdate,
  openObjectFromMemory,
  possibleCpus,
  programFd,
  setMapInitialValue,
  setMapMaxEntries,
  tcHelperSupported,
  BPF_FUNC_ktime_get_coarse_ns,
  type MapHandle,
  type ObjectHandle,
} from "./libbpf.ts";
import type { KernelCounters } from "../flow/flow-record.ts";

export interface FlowObjectOptions {
  /** Entries of each flows map (--cache-max-flows). */
  maxFlows: number;
  /** The ELF bytes; defaults to the object embedded in the executable. */
  objectBytes?: Uint8Array;
}

export async function embeddedFlowObject(): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(flowObjectPath).arrayBuffer());
}

export class FlowObject implements Disposable, FlowPrograms {
  private closed = false;
  private constructor(
    private readonly handle: ObjectHandle,
    /** Programs for Ethernet (and loopback) devices. */
    readonly ingressFd: number,
    readonly egressFd: number,
    /** Programs for devices whose packets start at L3 (tun, WireGuard, IP tunnels). */
    readonly ingressL3Fd: number,
    readonly egressL3Fd: number,
    /** flows_a, flows_b */
    readonly flowsFds: readonly [number, number],
    readonly overflowFd: number,
    private readonly countersFd: number,
    private readonly slotFd: number,
    readonly maxFlows: number,
    readonly cpus: number,
  ) {}

  static async load(options: FlowObjectOptions): Promise<FlowObject> {
    const bytes = options.objectBytes ?? (await embeddedFlowObject());
    for (let attempt = 1; ; attempt++) {
      try {
        return FlowObject.loadOnce(bytes, options);
      } catch (error) {
        // The verifier gives up with EAGAIN when a signal reaches the loading thread
        // (the runtime's own, a profiler's); libbpf's retries can all be hit. A loaded
        // object cannot be loaded again, so each try opens a fresh one.
        if (error instanceof BpfError && error.errno === 11 && attempt < 5) continue;
        throw error;
      }
    }
  }

  private static loadOnce(bytes: Uint8Array, options: FlowObjectOptions): FlowObject {
    const handle = openObjectFromMemory(bytes, "netflow");
    try {
      const flowsA = requireMap(handle, "flows_a");
      const flowsB = requireMap(handle, "flows_b");
      // Sizes come from the object's BTF: refuse a mismatched object before the kernel sees it.
      checkSizes(flowsA, "flows_a");
      checkSizes(flowsB, "flows_b");
      setMapMaxEntries(flowsA, options.maxFlows, "flows_a");
      setMapMaxEntries(flowsB, options.maxFlows, "flows_b");
      // .rodata holds the knobs of bpf/config.h; today one: use_coarse_clock (kernel 5.11+).
      const coarseClock = tcHelperSupported(BPF_FUNC_ktime_get_coarse_ns);
      setMapInitialValue(requireMap(handle, ".rodata"), new Uint8Array([coarseClock ? 1 : 0]), ".rodata");

      const mark = libbpfLogMark();
      try {
        loadObject(handle, "netflow (bpf/flow.bpf.o)");
      } catch (error) {
        throw explainLoadFailure(error, libbpfLogSince(mark));
      } finally {
        keepAlive(bytes); // libbpf read the ELF from it until here
      }

      const program = (name: string) => {
        const prog = findProgram(handle, name);
        if (!prog) throw new BpfError(`loading program ${name}`, "not found in the object", "rebuild bpf/ (bun build.ts)");
        return programFd(prog);
      };
      return new FlowObject(
        handle,
        program("flow_ingress"),
        program("flow_egress"),
        program("flow_ingress_l3"),
        program("flow_egress_l3"),
        [mapFd(flowsA), mapFd(flowsB)],
        mapFd(requireMap(handle, "flow_overflow")),
        mapFd(requireMap(handle, "counters")),
        mapFd(requireMap(handle, ".data.slot")),
        options.maxFlows,
        possibleCpus(),
      );
    } catch (error) {
      closeObject(handle);
      throw error;
    }
  }

  programsFor(layer: LinkLayer): ProgramFds {
    return layer === "ethernet" ? { ingressFd: this.ingressFd, egressFd: this.egressFd } : { ingressFd: this.ingressL3Fd, egressFd: this.egressL3Fd };
  }

  /** Points the programs at flows_a (0) or flows_b (1). */
  setActiveSlot(slot: 0 | 1) {
    // .data.slot holds active_slot alone: the whole value is that one __u32.
    mapUpdate(this.slotFd, new Uint8Array(4), new Uint8Array(new Uint32Array([slot]).buffer));
  }

  /** The kernel's counters, summed over CPUs (they only grow). */
  readCounters(): KernelCounters {
    const values = new BigUint64Array(this.cpus);
    const bytes = new Uint8Array(values.buffer);
    const key = new Uint32Array(1);
    const read = (counter: number) => {
      key[0] = counter;
      if (!mapLookup(this.countersFd, new Uint8Array(key.buffer), bytes)) return 0;
      let sum = 0n;
      for (const v of values) sum += v;
      return Number(sum);
    };
    return {
      ringbufPackets: read(FlowCounter.ringbufPackets),
      droppedPackets: read(FlowCounter.droppedPackets),
      droppedBytes: read(FlowCounter.droppedBytes),
      mapErrors: read(FlowCounter.mapErrors),
      truncated: read(FlowCounter.truncated),
    };
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    closeObject(this.handle);
  }

  [Symbol.dispose]() {
    this.close();
  }
}


/** A use the optimiser cannot drop: keeps `value` reachable up to this call. */
function keepAlive(value: unknown) {
  if (value === keepAlive) throw new Error("unreachable");
}

function requireMap(handle: ObjectHandle, name: string): MapHandle {
  const map = findMap(handle, name);
  if (!map) throw new BpfError(`opening map ${name}`, "not found in the object", "rebuild bpf/ and src/ together (bun build.ts)");
  return map;
}

function checkSizes(map: MapHandle, name: string) {
  const { keySize, valueSize } = mapGeometry(map);
  if (keySize !== FLOW_KEY.size)
    throw new BpfError(`map ${name}`, `key size ${keySize}, expected ${FLOW_KEY.size}`, "rebuild bpf/ and src/ together");
  if (valueSize !== FLOW_METRICS.size)
    throw new BpfError(`map ${name}`, `value size ${valueSize}, expected ${FLOW_METRICS.size}`, "rebuild bpf/ and src/ together");
}

function explainLoadFailure(error: unknown, log: string[]): unknown {
  if (!(error instanceof BpfError)) return error;
  const verifier = log.filter((l) => !l.startsWith("libbpf:")).slice(-20);
  const btfMissing = log.some((l) => /vmlinux BTF|kernel BTF/i.test(l));
  if (btfMissing)
    return new BpfError(error.doing, "the kernel has no BTF (/sys/kernel/btf/vmlinux)", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y", {
      cause: error,
      details: log.slice(-20),
    });
  if (error.errno === 1) return error;
  if (verifier.length > 0)
    return new BpfError(error.doing, `${error.why}; verifier log ends: ${verifier.at(-1)}`, error.hint, {
      cause: error,
      errno: error.errno,
      details: log.slice(-40),
    });
  return error;
}
