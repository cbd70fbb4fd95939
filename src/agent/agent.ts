/**
 * The running agent: kernel object loaded, programs attached to the selected
 * interfaces, flows evicted every active timeout and handed to the
 * exporters and subscribers.
 *
 * Ownership: the Agent owns the FlowObject, the InterfaceAttacher, the
 * FlowEvictor and the exporters given to it. Disposing it (once, from the
 * signal path or the end of main) detaches every program, evicts and exports
 * what the kernel still holds, then closes the exporters and the object.
 */
import { FlowObject } from "../bpf/flow-object.ts";
import { FlowEvictor } from "../flow/evict-flows.ts";
import { MAP_SIZING_DEFAULTS } from "../flow/map-sizing.ts";
import type { FlowBatch, KernelCounters } from "../flow/flow-record.ts";
import type { Exporter, SinkStats } from "../export/exporter.ts";
import type { Logger } from "../log.ts";
import type { AttachMode } from "../bpf/attachments.ts";
import type { FilterCounts } from "../bpf/filter-maps.ts";
import { ruleLabel, type FilterConfig } from "../filter/filter-rule.ts";
import { readPacketCounters } from "../bpf/interfaces.ts";
import { InterfaceAccounting, type InterfaceAccountingEntry } from "./interface-accounting.ts";
import { InterfaceAttacher } from "./interface-attacher.ts";
import { ProcessAttribution } from "../process/process-attribution.ts";
import { RttHook, type RttMaps } from "../bpf/rtt-maps.ts";
import { DropTracer, type DropCounters } from "../bpf/drop-maps.ts";
import { dropReasonName, readDropReasons, type DropReasons } from "../bpf/drop-reasons.ts";
import type { DnsCounters } from "../bpf/dns-maps.ts";
import { DROP_REASON_SLOTS } from "../bpf/flow-layout.ts";
import { cgroupV2Mount } from "../bpf/process-hooks.ts";
import { interfaceFilter, selectionText } from "./interface-filter.ts";
import { privilegeRefusal } from "./privileges.ts";

export interface AgentOptions {
  interfaces?: string;
  excludeInterfaces?: string;
  attachMode: AttachMode;
  /** The flows map's ceiling (--cache-max-flows). */
  maxFlows: number;
  /** Its floor and first size (--cache-min-flows). */
  minFlows: number;
  activeTimeoutMs: number;
  interfacePollMs: number;
  /** How often the map's fill is checked (one counters read) and the overflow ring read if it holds records. */
  fillCheckMs?: number;
  /** The ELF to load instead of the embedded one (tests, development). */
  objectBytes?: Uint8Array;
  /** Filter rules (--filter): what the kernel counts at all. None: every packet. */
  filter?: FilterConfig;
  /** --enable-process: each flow carries the process and cgroup owning its local socket (bpf/owner.h). */
  processes?: boolean;
  /** --sampling N: 1 in N packets counted, in the kernel (filter rules' sample=N override it). Default 1: every packet. */
  sampling?: number;
  /** --enable-dns: DNS over UDP on this port is tracked in the kernel (bpf/dns.h). Undefined: off, compiled out. */
  dnsPort?: number;
  /** --enable-rtt: each TCP flow of a local socket carries its connection's smoothed RTT (bpf/rtt.h). Off: not loaded. */
  rtt?: boolean;
  /** --enable-drops: packets the kernel drops, per flow, with the reason (bpf/drops.bpf.c). Where it cannot load, one warning and the agent runs without it. */
  drops?: boolean;
  /** The drop tracer's ELF instead of the embedded one (tests). */
  dropsObjectBytes?: Uint8Array;
}

export interface AgentStatus {
  startedAtMs: number;
  interfaces: { name: string; ifindex: number; kind: "tcx" | "tc" }[];
  /** The ceiling of the flows map (--cache-max-flows). */
  maxFlows: number;
  /** --cache-active-timeout: the configured interval between evictions (early ones come sooner). */
  evictionIntervalMs: number;
  /** The kernel's flows maps now. */
  flowMaps: {
    /** Entries of the map the programs write now. */
    capacity: number;
    /** Flows inserted into it since it became active (read at the last fill check). */
    fill: number;
    /** Kernel memory of every map the agent holds (memlock from the map fds), bytes. */
    kernelMemoryBytes: number;
    /** Times the map was resized, and evictions started early because it was filling. */
    resizes: number;
    earlyEvictions: number;
  };
  /** One entry per sink (stdout, grpc, …) in --export order. */
  sinks: ({ name: string } & SinkStats)[];
  lastEviction: { atMs: number; flows: number; durationMs: number } | undefined;
  totals: { evictions: number; flows: number; packets: number; bytes: number };
  kernel: KernelCounters;
  /** The filter rules' count, default action and what they rejected since start; undefined without rules. */
  filter?: { rules: number; defaultAction: FilterConfig["defaultAction"] } & FilterCounts;
  /** Per attached interface, ingress then egress: packets and bytes accounted, and the self-check against the kernel's counters. */
  accounting: InterfaceAccountingEntry[];
  /** Selected interfaces whose attach failed (left alone, named in the log); /readyz waits for none. */
  notAttached: string[];
  /** --sampling N (1: every packet); flows accepted by a filter rule with sample=N carry that N instead. */
  sampling: number;
  /** --enable-dns: the port and the kernel tracker's counters since start; undefined when off. */
  dns?: { port: number } & DnsCounters;
  /** --enable-rtt: connections' RTT records drained (summed over evictions) and flows that carried an RTT; undefined when off. */
  rtt?: { connections: number; flows: number };
  /** --enable-drops: the tracer's counters since start, or why it could not load; undefined when off. */
  drops?: DropTrackerStatus;
}

/** The drop tracer's state (--enable-drops). */
export type DropTrackerStatus = DropCounters & {
  /** Set when the tracer could not load: why, in one line (the counters are then 0). */
  unavailable?: string;
  /** Flows made of drops only (no TC hook saw their packets), summed over evictions. */
  dropOnlyFlows: number;
  /** Dropped packets on devices the agent does not capture on, left out of the flows. */
  unwatchedDevicePackets: number;
  /** Every drop on the host since start (any namespace, IP or not), by reason, most frequent first. */
  reasons: DropReasonTotal[];
};

export interface DropReasonTotal {
  /** The running kernel's name ("NETFILTER_DROP"); OTHER_DROP_REASONS for the tracer's last slot. */
  reason: string;
  code: number;
  packets: number;
}

/** The name of the tracer's last reason slot, which counts every reason numbered DROP_REASON_SLOTS − 1 and above (subsystems' reasons, like OVS's). */
export const OTHER_DROP_REASONS = "OTHER";

export type BatchListener = (batch: FlowBatch) => void;

export class Agent implements AsyncDisposable {
  private readonly listeners = new Set<BatchListener>();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private disposed: Promise<void> | undefined;
  private readonly startedAtMs = Date.now();
  private lastEviction: AgentStatus["lastEviction"];
  private readonly totals = { evictions: 0, flows: 0, packets: 0, bytes: 0 };
  private kernel: KernelCounters = { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: 0 };
  private reportedDrops = 0;
  private evicting = false;
  private fill = 0;
  private warnedCeiling = false;
  /** The process hooks (--enable-process), owned: detached with the TC programs. */
  private processes: ProcessAttribution | undefined;
  /** The RTT sock_ops program (--enable-rtt), owned: detached with the TC programs. */
  private rttHook: RttHook | undefined;
  /** The drop tracer (--enable-drops), owned: detached after the final eviction. */
  private dropTracer: DropTracer | undefined;
  /** The running kernel's drop reason names (with the tracer). */
  private dropReasons: DropReasons | undefined;
  /** Why the drop tracer could not load (--enable-drops asked for it), for Status. */
  private dropsUnavailable: string | undefined;

  private constructor(
    private readonly options: AgentOptions,
    private readonly object: FlowObject,
    private readonly attacher: InterfaceAttacher,
    private readonly evictor: FlowEvictor,
    private readonly accounting: InterfaceAccounting,
    private readonly exporters: Exporter[],
    private readonly log: Logger,
  ) {}

  /** Loads and attaches; all or nothing: on failure everything taken so far is released. */
  static async start(options: AgentOptions, exporters: Exporter[], log: Logger): Promise<Agent> {
    const filter = interfaceFilter(options.interfaces, options.excludeInterfaces);
    const refused = privilegeRefusal();
    if (refused) throw refused;
    using stack = new DisposableStack();
    const sizing = { ...MAP_SIZING_DEFAULTS, minimum: Math.min(options.minFlows, options.maxFlows), ceiling: options.maxFlows };
    const object = stack.use(await FlowObject.load({ initialFlows: FlowEvictor.initialCapacity(sizing), objectBytes: options.objectBytes, filter: options.filter, processes: processesWanted(options, log), sampling: options.sampling, ...(options.dnsPort ? { dns: { port: options.dnsPort } } : {}), rtt: options.rtt === true }));
    // Before any flow: connections established from here on get RTT samples.
    const rttHook = object.rtt && attachRttHook(object.rtt, log);
    if (rttHook) stack.use(rttHook);
    // Before the TC programs: a drop of a packet they counted is never missed (one of a packet they did not is a drop-only flow).
    const dropTracing = options.drops ? await startDropTracer(options, log) : undefined;
    const drops = dropTracing && "tracer" in dropTracing ? dropTracing : undefined;
    if (drops) stack.use(drops.tracer);
    // Hooks attached and the sockets already open written before any flow program runs.
    const processes = object.processes && stack.use(ProcessAttribution.start(object.processes, log));
    // The evictor takes the counters' starting values and maps the ring before any packet is seen.
    const names = new InterfaceNames();
    const accounting = new InterfaceAccounting(() => names.source?.attached() ?? [], readPacketCounters);
    // Every device attached since start (an index is not reused while its device exists): the final
    // eviction comes after the detach, and its drops are still the watched devices'.
    const watched = new Set<number>();
    const watchedDevice = (ifindex: number) => {
      if (watched.has(ifindex)) return true;
      for (const a of names.source?.attached() ?? []) watched.add(a.ifindex);
      return watched.has(ifindex);
    };
    const evictor = stack.use(new FlowEvictor(object, { names: names.nameOf, cgroups: processes?.cgroups, sizing, afterSwap: () => accounting.sample(), ...(drops ? { drops: { ...drops, watched: watchedDevice } } : {}) }));
    const attacher = stack.use(new InterfaceAttacher(object, filter, options.attachMode, log));
    names.source = attacher;
    attacher.reconcile();
    if (attacher.attached().length === 0) log.warn(nothingAttachedText(options, attacher.leftAlone()));
    stack.move();
    const agent = new Agent(options, object, attacher, evictor, accounting, exporters, log);
    agent.processes = processes;
    agent.rttHook = rttHook;
    agent.dropTracer = drops?.tracer;
    agent.dropReasons = drops?.reasons;
    agent.dropsUnavailable = dropTracing && "unavailable" in dropTracing ? dropTracing.unavailable : undefined;
    return agent;
  }

  /** Starts the timers: eviction, overflow reads, interface polling. */
  start() {
    // A failed eviction is logged and the next one tries again: the flows stay in the kernel map.
    const report = (doing: string) => (error: unknown) => this.log.error(`${doing}: ${error instanceof Error ? error.message : String(error)}`);
    this.timers.push(setInterval(() => void this.evictAndExport().catch(report("evicting flows")), this.options.activeTimeoutMs));
    this.timers.push(setInterval(() => this.checkFill(report), this.options.fillCheckMs ?? 100));
    this.timers.push(
      setInterval(() => {
        try {
          this.attacher.reconcile();
        } catch (error) {
          this.log.error(error instanceof Error ? error.message : String(error));
        }
      }, this.options.interfacePollMs),
    );
  }

  /**
   * The short timer: one counters read. Evicts early when the map nears its
   * high-water mark or spills to the ring (the next map grows), at most one
   * eviction at a time.
   */
  private checkFill(report: (doing: string) => (error: unknown) => void) {
    if (this.evicting) return;
    try {
      const state = this.evictor.checkFill();
      this.fill = state.fill;
      if (!state.evictNow) return;
      if (state.capacity >= this.options.maxFlows && !this.warnedCeiling) {
        this.warnedCeiling = true;
        this.log.warn(
          `the flows map is at its ceiling (--cache-max-flows ${this.options.maxFlows}) and filling: evicting early; raise --cache-max-flows if this persists`,
        );
      }
      void this.evictAndExport({ early: true }).catch(report("evicting flows early"));
    } catch (error) {
      report("checking the flows map")(error);
    }
  }

  subscribe(listener: BatchListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  status(): AgentStatus {
    return {
      startedAtMs: this.startedAtMs,
      interfaces: this.attacher.attached(),
      maxFlows: this.options.maxFlows,
      evictionIntervalMs: this.options.activeTimeoutMs,
      flowMaps: {
        capacity: this.object.flowMaps.active.capacity,
        fill: this.fill,
        kernelMemoryBytes: this.object.kernelMemoryBytes(),
        resizes: this.evictor.resizes,
        earlyEvictions: this.evictor.earlyEvictions,
      },
      sinks: this.exporters.map((e) => ({ name: e.name, ...e.stats() })),
      lastEviction: this.lastEviction,
      totals: { ...this.totals },
      kernel: { ...this.kernel },
      filter: this.object.filter && { rules: this.object.filter.rules.length, defaultAction: this.options.filter!.defaultAction, ...this.object.filter.readCounts() },
      accounting: this.accounting.entries(),
      notAttached: this.attacher.failedToAttach(),
      sampling: this.options.sampling ?? 1,
      dns: this.object.dns && { port: this.object.dns.port, ...this.object.dns.readCounters() },
      rtt: this.object.rtt && { connections: this.evictor.rttConnections, flows: this.evictor.rttFlows },
      drops: this.options.drops ? this.dropTrackerStatus() : undefined,
    };
  }

  /** The drop tracer's counters and reason totals (two map reads, one of them a batch: once per Status call or scrape), or why it is not running. */
  private dropTrackerStatus(): DropTrackerStatus {
    const tracer = this.dropTracer;
    if (!tracer) {
      const zero = { recorded: 0, mapFull: 0, notIp: 0, noDevice: 0, otherNetns: 0, dropOnlyFlows: 0, unwatchedDevicePackets: 0, reasons: [] };
      return { unavailable: this.dropsUnavailable ?? "not loaded", ...zero };
    }
    const reasons: DropReasonTotal[] = [];
    for (const [code, packets] of tracer.readReasonTotals())
      reasons.push({ reason: code === DROP_REASON_SLOTS - 1 ? OTHER_DROP_REASONS : dropReasonName(this.dropReasons!, code), code, packets });
    reasons.sort((a, b) => b.packets - a.packets || a.code - b.code);
    return { ...tracer.readCounters(), dropOnlyFlows: this.evictor.dropOnlyFlows, unwatchedDevicePackets: this.evictor.dropsOnUnwatchedDevices, reasons };
  }

  /** One eviction, exported. Errors of one exporter do not stop the others. */
  async evictAndExport({ final = false, early = false } = {}): Promise<FlowBatch> {
    this.evicting = true;
    try {
      return await this.exportBatch(await this.evictor.evict({ final, early }));
    } finally {
      this.evicting = false;
    }
  }

  private async exportBatch(batch: FlowBatch): Promise<FlowBatch> {
    const { flows } = batch;
    this.lastEviction = { atMs: batch.evictedAtMs, flows: flows.count, durationMs: batch.evictionMs };
    this.totals.evictions++;
    this.totals.flows += flows.count;
    for (let i = 0; i < flows.count; i++) {
      this.totals.packets += flows.packets(i);
      this.totals.bytes += flows.bytes(i);
    }
    // Before any await: pairs with the counters sampled at this eviction's swap.
    this.accounting.add(flows);
    this.kernel = batch.counters;
    if (batch.counters.droppedPackets > this.reportedDrops) {
      this.log.warn(
        `${batch.counters.droppedPackets - this.reportedDrops} packets not accounted: flows map and ring buffer both full (raise --cache-max-flows or shorten --cache-active-timeout)`,
      );
      this.reportedDrops = batch.counters.droppedPackets;
    }
    this.log.debug(`evicted ${flows.count} flows in ${batch.evictionMs.toFixed(1)} ms (map of ${this.object.flowMaps.active.capacity} now)`);
    for (const exporter of this.exporters) {
      try {
        await exporter.export(batch);
      } catch (error) {
        this.log.error(`exporter ${exporter.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    for (const listener of this.listeners) listener(batch);
    return batch;
  }

  /** Detach, final eviction, close. Idempotent: the signal path and `await using` may both call it. */
  [Symbol.asyncDispose](): Promise<void> {
    this.disposed ??= this.shutdown();
    return this.disposed;
  }

  /** At exit: what the filter rules kept out of the flows, by rule. */
  private logFiltered() {
    const filter = this.object.filter;
    if (!filter) return;
    try {
      const counts = filter.readCounts();
      const parts = filter.rules.flatMap((rule, i) => (rule.action === "reject" ? [`${ruleLabel(rule)}: ${counts.byRule[i]!.packets}`] : []));
      parts.push(`default (${this.options.filter!.defaultAction}): ${counts.byDefault.packets}`);
      this.log.info(`filter rejected ${counts.total.packets} packets (${counts.total.bytes} bytes), not in any flow: ${parts.join("; ")}`);
    } catch (error) {
      this.log.error(`reading the filter's counters: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async shutdown() {
    for (const timer of this.timers) clearInterval(timer);
    // Detach first: after this no program runs, so the final eviction sees every packet.
    this.attacher.close();
    this.processes?.close();
    this.rttHook?.close();
    try {
      await this.evictAndExport({ final: true });
    } catch (error) {
      this.log.error(`final eviction: ${error instanceof Error ? error.message : String(error)}`);
    }
    // Together: each flushes for at most --export-flush-timeout, so shutdown takes that once, not once per sink.
    await Promise.all(
      this.exporters.map(async (exporter) => {
        try {
          await exporter[Symbol.asyncDispose]();
        } catch (error) {
          this.log.error(`closing exporter ${exporter.name}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }),
    );
    this.logFiltered();
    this.evictor.close();
    this.dropTracer?.close();
    this.object.close();
  }
}

/** Attaches the RTT program, or says in one warning why it cannot (no cgroup v2 hierarchy, the attach refused) and runs without RTT. */
function attachRttHook(maps: RttMaps, log: Logger): RttHook | undefined {
  try {
    return RttHook.attach(maps);
  } catch (error) {
    log.warn(`RTT is off: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/**
 * Loads and attaches the drop tracer, or says in one warning why it cannot
 * run here (no kernel BTF, a kernel before 5.17, no CAP_PERFMON) and returns
 * that reason (kept for Status): everything else runs without it.
 */
async function startDropTracer(options: AgentOptions, log: Logger): Promise<{ tracer: DropTracer; reasons: DropReasons } | { unavailable: string }> {
  let tracer: DropTracer | undefined;
  try {
    const reasons = readDropReasons();
    tracer = await DropTracer.load({ reasons, ...(options.dropsObjectBytes ? { objectBytes: options.dropsObjectBytes } : {}) });
    tracer.attach();
    return { tracer, reasons };
  } catch (error) {
    tracer?.close();
    const message = error instanceof Error ? error.message : String(error);
    const needs = "(--enable-drops needs kernel BTF, kernel 5.17+ and CAP_PERFMON)";
    log.warn(`drops are off: ${message} ${needs}`);
    // Status gets the first line only: a verifier log's tail goes to the warning alone.
    return { unavailable: `${message.split("\n")[0]} ${needs}` };
  }
}

/**
 * Process attribution is on by default: where no cgroup v2 hierarchy can be
 * reached (none mounted, or only through a root this process may not enter)
 * the agent runs without it, saying so once, rather than not at all.
 */
function processesWanted(options: AgentOptions, log: Logger): boolean {
  if (!options.processes) return false;
  if (cgroupV2Mount()) return true;
  log.warn("process attribution is off: no cgroup v2 hierarchy is reachable from here (mount cgroup2, or run with --enable-process=false to silence this)");
  return false;
}

/**
 * Why nothing is captured yet, in one line. Not fatal: on a Kubernetes node
 * the pods' interfaces appear after the agent starts, and are attached then.
 */
function nothingAttachedText(options: AgentOptions, leftAlone: string[]): string {
  const selection = selectionText(options.interfaces, options.excludeInterfaces);
  const polling = `(looking every ${options.interfacePollMs} ms)`;
  if (leftAlone.length === 0) return `capturing on no interface yet: none matches ${selection}; waiting for one to appear ${polling}`;
  const [verb, were] = leftAlone.length === 1 ? ["matches", "was"] : ["match", "were"];
  return `capturing on no interface yet: ${leftAlone.join(", ")} ${verb} ${selection} but ${were} left alone (see above); waiting for another to appear ${polling}`;
}

/**
 * Interface names for the evictor, and the attached interfaces for the
 * accounting's samples, which exist before the attacher (the evictor must see
 * the counters before any program runs): the attacher is plugged in once made.
 */
class InterfaceNames {
  source: { nameOf(ifindex: number): string; attached(): { ifindex: number; name: string }[] } | undefined;
  readonly nameOf = (ifindex: number): string => this.source?.nameOf(ifindex) ?? `if${ifindex}`;
}
