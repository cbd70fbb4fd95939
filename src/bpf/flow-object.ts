/**
 * The loaded kernel side: bpf/flow.bpf.o opened from memory, its knobs set,
 * loaded all or nothing, its key/value sizes checked against flow-layout.ts,
 * and the first flows map installed (flow-maps.ts) before any program can
 * run. Owns the object and the flows maps; close() (or `using`) releases
 * every fd it holds. Attachments are separate (attachments.ts) and must be
 * closed first.
 */
import { readFileSync } from "node:fs";
import flowObjectPath from "../../bpf/flow.bpf.o" with { type: "file" };
import type { FlowPrograms, ProgramFds } from "./attachments.ts";
import { BpfError } from "./errors.ts";
import type { LinkLayer } from "./interfaces.ts";
import { DNS_COUNTERS, DNS_QUERY_KEY, DNS_RECORD, FILTER_CHAIN, FILTER_COUNTER, FILTER_KEY, FilterAction, FLOW_COUNTERS, FLOW_KEY, FLOW_METRICS, MAX_FILTER_RULES, NETFLOW_KNOBS, RTT_RECORD, SOCK_CONNECTION } from "./flow-layout.ts";
import { DnsMaps } from "./dns-maps.ts";
import { RttMaps } from "./rtt-maps.ts";
import { PerCpuCounters } from "./per-cpu-counters.ts";
import { FilterMaps } from "./filter-maps.ts";
import { FlowMaps } from "./flow-maps.ts";
import { OWNER_PROGRAMS, type ProcessMaps } from "./process-maps.ts";
import type { FilterConfig } from "../filter/filter-rule.ts";
import { filterSides, filterTrieEntries } from "../filter/filter-trie.ts";
import { explainLoadFailure } from "./verifier-log.ts";
import {
  closeObject,
  findMap,
  findProgram,
  libbpfLogMark,
  libbpfLogSince,
  loadObject,
  mapFd,
  mapGeometry,
  mapMemoryBytes,
  openObjectFromMemory,
  possibleCpus,
  programFd,
  networkNamespaceCookie,
  setProgramAutoload,
  innerMap,
  setMapInitialValue,
  setMapType,
  BPF_MAP_TYPE_PERCPU_HASH,
  tcHelperSupported,
  BPF_FUNC_ktime_get_coarse_ns,
  type MapHandle,
  type ObjectHandle,
} from "./libbpf.ts";
import type { KernelCounters } from "../flow/flow-record.ts";

export interface FlowObjectOptions {
  /** Entries of the first flows map; later ones are sized by the evictor. */
  initialFlows: number;
  /**
   * One value per CPU (plain adds, cheaper per packet, memory × CPUs) or one
   * shared value (atomic adds). Default: per CPU up to PERCPU_VALUES_MAX_CPUS.
   */
  values?: FlowValues;
  /** The ELF bytes; defaults to the object embedded in the executable. */
  objectBytes?: Uint8Array;
  /**
   * Filter rules (--filter): written into the trie before load returns, so
   * before any program runs. None (or no rules): the filter is compiled out
   * (knobs.filter_enabled 0) and costs nothing.
   */
  filter?: FilterConfig;
  /**
   * Process attribution (--enable-process): the cgroup socket hooks are
   * loaded (attach them with ProcessHooks) and each new flow looks up its
   * owner. Off (default here): those programs are not loaded at all.
   */
  processes?: boolean;
  /**
   * --sampling N: each packet is counted with probability 1/N, in the
   * kernel; every flow records its N. 1 (default): every packet, and the
   * sampling code is never visited by the verifier.
   */
  sampling?: number;
  /**
   * --enable-dns: UDP and TCP packets to or from `port` are read as DNS in the
   * kernel (bpf/dns.h): query → response latency, id, flags, name, per flow.
   * Undefined (default): compiled out, the verifier never visits it.
   */
  dns?: { port: number };
  /**
   * --enable-rtt: the sock_ops program (bpf/rtt.h) is loaded (attach it with
   * RttHook) and records each TCP connection's smoothed RTT. Off (default):
   * not loaded.
   */
  rtt?: boolean;
}

export type FlowValues = "per-cpu" | "shared";

/**
 * Up to this many possible CPUs the flows maps hold per-CPU values. Per-CPU
 * values are ~6 ns a packet cheaper for known flows (no atomic adds), but
 * inserting a flow into a non-preallocated per-CPU hash was measured far
 * slower on this VM (bench/scale.ts: per-CPU allocation under the
 * hypervisor), and memory grows with the CPUs: shared values everywhere by
 * default; FlowObject.load({ values: "per-cpu" }) stays available and tested.
 */
export const PERCPU_VALUES_MAX_CPUS = 0;

export function defaultFlowValues(cpus: number): FlowValues {
  return cpus <= PERCPU_VALUES_MAX_CPUS ? "per-cpu" : "shared";
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
    /** The flows maps the programs write, swapped by the evictor. */
    readonly flowMaps: FlowMaps,
    readonly overflowFd: number,
    /** Bytes of the overflow ring's data area (its max_entries). */
    readonly overflowBytes: number,
    private readonly countersFd: number,
    readonly cpus: number,
    /** What the flows maps hold: one value per CPU, or one shared. */
    readonly values: FlowValues,
    /** The filter's rules and counters; undefined without rules (the filter is compiled out). */
    readonly filter: FilterMaps | undefined,
    /** The process-attribution maps and hook programs; undefined when attribution is off. */
    readonly processes: ProcessMaps | undefined,
    /** The DNS tracker's maps; undefined without --enable-dns. */
    readonly dns: DnsMaps | undefined,
    /** The TCP RTT tracker's map and program; undefined without --enable-rtt. */
    readonly rtt: RttMaps | undefined,
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
      const flows = requireMap(handle, "flows");
      // Sizes come from the object's BTF: refuse a mismatched object before the kernel sees it.
      const template = innerMap(flows);
      if (!template) throw new BpfError("opening map flows", "it has no inner map definition", "rebuild bpf/ and src/ together (bun build.ts)");
      checkSizes(template, "flows (inner)", FLOW_KEY.size, FLOW_METRICS.size);
      const counters = requireMap(handle, "counters");
      checkSizes(counters, "counters", 4, FLOW_COUNTERS.size);
      const cpus = possibleCpus();
      const values = options.values ?? defaultFlowValues(cpus);
      if (values === "per-cpu") setMapType(template, BPF_MAP_TYPE_PERCPU_HASH, "flows (inner)");
      // .rodata is struct netflow_knobs (bpf/config.h), whole.
      const rodata = requireMap(handle, ".rodata");
      if (mapGeometry(rodata).valueSize !== NETFLOW_KNOBS.size)
        throw new BpfError("map .rodata", `size ${mapGeometry(rodata).valueSize}, expected ${NETFLOW_KNOBS.size}`, "rebuild bpf/ and src/ together");
      const knobs = new Uint8Array(NETFLOW_KNOBS.size);
      const K = NETFLOW_KNOBS.fields;
      knobs[K.use_coarse_clock.offset] = tcHelperSupported(BPF_FUNC_ktime_get_coarse_ns) ? 1 : 0;
      knobs[K.percpu_values.offset] = values === "per-cpu" ? 1 : 0;
      knobs[K.use_atomic_or.offset] = kernelAtLeast(5, 12) ? 1 : 0;
      const filter = options.filter?.rules.length ? options.filter : undefined;
      // Computed before load: rules that cannot be loaded fail before the kernel sees anything.
      const filterEntries = filter && filterTrieEntries(filter.rules);
      knobs[K.filter_enabled.offset] = filter ? 1 : 0;
      knobs[K.filter_default_action.offset] = FilterAction[filter?.defaultAction ?? "accept"];
      knobs[K.filter_sides.offset] = filterEntries ? filterSides(filterEntries) : 0;
      const processes = options.processes === true;
      const rtt = options.rtt === true;
      const netnsCookie = processes || rtt ? networkNamespaceCookie() : 0n;
      knobs[K.attribute_owners.offset] = processes ? 1 : 0;
      // bpf_get_current_comm in cgroup programs needs CAP_PERFMON (38) or CAP_SYS_ADMIN (21).
      const caps = processes ? effectiveCapabilities() : 0n;
      knobs[K.record_comm.offset] = caps & ((1n << 38n) | (1n << 21n)) ? 1 : 0;
      new DataView(knobs.buffer).setBigUint64(K.netns_cookie.offset, netnsCookie, true);
      new DataView(knobs.buffer).setUint32(K.sampling.offset, options.sampling ?? 1, true);
      knobs[K.track_dns.offset] = options.dns ? 1 : 0;
      new DataView(knobs.buffer).setUint16(K.dns_port.offset, options.dns?.port ?? 53, true);
      // Checked only when used: off, an object without them (one built before DNS, for bench/bpf-cost.ts) loads too.
      if (options.dns) {
        checkSizes(requireMap(handle, "dns_queries"), "dns_queries", DNS_QUERY_KEY.size, 8);
        checkSizes(requireMap(handle, "dns_flows"), "dns_flows", FLOW_KEY.size, DNS_RECORD.size);
        checkSizes(requireMap(handle, "dns_counters"), "dns_counters", 4, DNS_COUNTERS.size);
      }
      if (rtt) checkSizes(requireMap(handle, "tcp_rtt"), "tcp_rtt", SOCK_CONNECTION.size, RTT_RECORD.size);
      // An object built before RTT has no such program: fine while RTT is off.
      const rttProgram = findProgram(handle, "rtt_sock_ops");
      if (rttProgram && !rtt) setProgramAutoload(rttProgram, false, "rtt_sock_ops");
      for (const { name } of OWNER_PROGRAMS) {
        const prog = findProgram(handle, name);
        if (!prog) throw new BpfError(`opening program ${name}`, "not found in the object", "rebuild bpf/ (bun build.ts)");
        if (!processes) setProgramAutoload(prog, false, name);
      }
      setMapInitialValue(rodata, knobs, ".rodata");
      const filterRules = requireMap(handle, "filter_rules");
      checkSizes(filterRules, "filter_rules", FILTER_KEY.size, FILTER_CHAIN.size);
      const filterCounters = requireMap(handle, "filter_counters");
      checkSizes(filterCounters, "filter_counters", 4, FILTER_COUNTER.size);
      if (mapGeometry(filterCounters).maxEntries !== MAX_FILTER_RULES + 1)
        throw new BpfError("map filter_counters", `${mapGeometry(filterCounters).maxEntries} entries, expected ${MAX_FILTER_RULES + 1}`, "rebuild bpf/ and src/ together");

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
      const overflow = requireMap(handle, "flow_overflow");
      const flowMaps = new FlowMaps(mapFd(flows), options.initialFlows, values === "per-cpu" ? cpus : 0);
      let filterMaps: FilterMaps | undefined;
      try {
        if (filter) {
          filterMaps = new FilterMaps(mapFd(filterRules), mapFd(filterCounters), cpus, filter.rules);
          filterMaps.install(filterEntries!);
        }
      } catch (error) {
        flowMaps.close();
        throw error;
      }
      return new FlowObject(
        handle,
        program("flow_ingress"),
        program("flow_egress"),
        program("flow_ingress_l3"),
        program("flow_egress_l3"),
        flowMaps,
        mapFd(overflow),
        mapGeometry(overflow).maxEntries,
        mapFd(counters),
        cpus,
        values,
        filterMaps,
        processes
          ? {
              ownersFd: mapFd(requireMap(handle, "sock_owners")),
              connectionsFd: mapFd(requireMap(handle, "sock_connections")),
              listenersFd: mapFd(requireMap(handle, "sock_listeners")),
              closedFd: mapFd(requireMap(handle, "sock_closed")),
              closedBytes: mapGeometry(requireMap(handle, "sock_closed")).maxEntries,
              netnsCookie,
              programs: OWNER_PROGRAMS.map((p) => ({ ...p, fd: program(p.name) })),
            }
          : undefined,
        options.dns ? new DnsMaps(mapFd(requireMap(handle, "dns_flows")), mapFd(requireMap(handle, "dns_counters")), cpus, options.dns.port) : undefined,
        rtt ? new RttMaps(mapFd(requireMap(handle, "tcp_rtt")), program("rtt_sock_ops"), netnsCookie) : undefined,
      );
    } catch (error) {
      closeObject(handle);
      throw error;
    }
  }

  programsFor(layer: LinkLayer): ProgramFds {
    return layer === "ethernet" ? { ingressFd: this.ingressFd, egressFd: this.egressFd } : { ingressFd: this.ingressL3Fd, egressFd: this.egressL3Fd };
  }

  private counters: PerCpuCounters<keyof typeof FLOW_COUNTERS.fields> | undefined;

  /** The kernel's counters, summed over CPUs (they only grow): one lookup. */
  readCounters(): KernelCounters {
    const c = (this.counters ??= new PerCpuCounters(this.countersFd, FLOW_COUNTERS, this.cpus, "counters")).read();
    return {
      ringbufPackets: c.ringbuf_packets,
      droppedPackets: c.dropped_packets,
      droppedBytes: c.dropped_bytes,
      mapErrors: c.map_errors,
      truncated: c.truncated,
      flowsInserted: c.flows_inserted,
    };
  }

  /** Kernel memory of every map the agent holds: flows maps, overflow ring, counters (memlock). The filter's maps are not counted. */
  kernelMemoryBytes(): number {
    const p = this.processes;
    const processMaps = p ? [p.ownersFd, p.connectionsFd, p.listenersFd, p.closedFd].reduce((sum, fd) => sum + mapMemoryBytes(fd), 0) : 0;
    return this.flowMaps.memoryBytes() + mapMemoryBytes(this.overflowFd) + mapMemoryBytes(this.countersFd) + processMaps;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.flowMaps.close();
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

function checkSizes(map: MapHandle, name: string, key: number, value: number) {
  const { keySize, valueSize } = mapGeometry(map);
  if (keySize !== key) throw new BpfError(`map ${name}`, `key size ${keySize}, expected ${key}`, "rebuild bpf/ and src/ together");
  if (valueSize !== value) throw new BpfError(`map ${name}`, `value size ${valueSize}, expected ${value}`, "rebuild bpf/ and src/ together");
}

/** Whether the running kernel's release (uname -r) is at least major.minor. */
export function kernelAtLeast(major: number, minor: number, release = readFileSync("/proc/sys/kernel/osrelease", "utf8")): boolean {
  const [a = 0, b = 0] = release.split(/[.-]/).map(Number);
  return a > major || (a === major && b >= minor);
}

/** This process's effective capabilities (CapEff of /proc/self/status). */
function effectiveCapabilities(): bigint {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapEff:"));
  return line ? BigInt(`0x${line.slice(7).trim()}`) : 0n;
}
