/**
 * bench/flow-flood.c from TypeScript: compiled once per content, run inside a
 * namespace, its JSON report parsed, and the exact count of every flow
 * derived from it (the generator's round robin is deterministic over the
 * datagrams the kernel accepted: flow i got `base`, plus one when i < `extra`).
 *
 * Flow i goes to (first address + i / ports, first port + i % ports). The
 * destinations live in 198.19.0.0/16, routed by `routeFloodDestinations`
 * through the peer, which drops them at its IP layer (no forwarding, no ICMP):
 * the cheapest receiver there is, and what the agent measures is the sender's
 * egress anyway.
 */
import { $ } from "bun";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import type { Host, VethPair } from "./netns.ts";
import { udpFrameBytes } from "./traffic.ts";

export const floodSource = join(import.meta.dir, "..", "..", "bench", "flow-flood.c");

/** The first flow's address; flows spread over the addresses after it. */
export const FLOOD_FIRST_ADDRESS = "198.19.0.1";

/** The generator's JSON line (bench/flow-flood.c). */
export interface FloodReport {
  /** Datagrams the kernel accepted, over every flow. */
  sent: number;
  flows: number;
  /** Every flow got `base` datagrams; flows [0, extra) one more. */
  base: number;
  extra: number;
  dst: string;
  addresses: number;
  ports: number;
  firstPort: number;
  srcPort: number;
  /** UDP payload bytes of every datagram. */
  payload: number;
  seconds: number;
  pps: number;
  calls: number;
  /** sendmmsg() calls that sent less than asked, and calls retried after EINTR/EAGAIN/ENOBUFS. */
  partial: number;
  retried: number;
}

export interface FloodOptions {
  flows: number;
  ports?: number;
  firstPort?: number;
  payload?: number;
  /** 0: no time limit (then `count` or stop() ends it). */
  seconds?: number;
  count?: number;
  /** 0: as fast as the kernel takes them. */
  pps?: number;
  batch?: number;
  srcPort?: number;
  dst?: string;
  /** Pins the generator to this CPU (taskset). */
  cpu?: number;
}

let compiled: Promise<string> | undefined;

/** Path of the compiled generator; compiled with `cc -O2` when its source changed. */
export function floodBinary(): Promise<string> {
  compiled ??= (async () => {
    const hash = createHash("sha256").update(readFileSync(floodSource)).digest("hex").slice(0, 12);
    const path = `/tmp/netflow-flow-flood-${hash}`;
    if (!existsSync(path)) {
      // Compiled aside and renamed: concurrent test runs never see half a binary.
      const partial = `${path}.${process.pid}`;
      await $`cc -O2 -Wall -o ${partial} ${floodSource}`.quiet();
      renameSync(partial, path);
    }
    return path;
  })();
  return compiled;
}

export function floodArgs(o: FloodOptions): string[] {
  const args = ["--dst", o.dst ?? FLOOD_FIRST_ADDRESS, "--flows", String(o.flows)];
  const add = (name: string, value: number | undefined) => value !== undefined && args.push(name, String(value));
  add("--ports", o.ports);
  add("--first-port", o.firstPort);
  add("--payload", o.payload);
  add("--seconds", o.seconds);
  add("--count", o.count);
  add("--pps", o.pps);
  add("--batch", o.batch);
  add("--src-port", o.srcPort);
  return args;
}

/** A running generator in `host`'s namespace. */
export class FlowFlood implements AsyncDisposable {
  private constructor(
    private readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">,
    private readonly output: Promise<[string, string, number]>,
  ) {}

  static async start(host: Host, options: FloodOptions): Promise<FlowFlood> {
    const binary = await floodBinary();
    const pin = options.cpu === undefined ? [] : ["taskset", "-c", String(options.cpu)];
    const proc = Bun.spawn(["ip", "netns", "exec", host.ns, ...pin, binary, ...floodArgs(options)], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return new FlowFlood(proc, output);
  }

  get pid() {
    return this.proc.pid;
  }

  /** Waits for the end (time, count, or stop()) and returns the report. */
  async report(): Promise<FloodReport> {
    const [out, err, code] = await this.output;
    if (code !== 0) throw new Error(`flow-flood exited ${code}: ${err.trim()}`);
    return JSON.parse(out);
  }

  /** SIGTERM: it stops after the datagrams in flight and reports them. */
  async stop(): Promise<FloodReport> {
    if (this.proc.exitCode === null) this.proc.kill("SIGTERM");
    return this.report();
  }

  async [Symbol.asyncDispose]() {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

/** Runs the generator to its end in `host`'s namespace. */
export async function flood(host: Host, options: FloodOptions): Promise<FloodReport> {
  await using run = await FlowFlood.start(host, options);
  return await run.report();
}

/** Datagrams flow `i` got. */
export function floodPackets(report: FloodReport, i: number): number {
  return report.base + (i < report.extra ? 1 : 0);
}

function ipv4ToInt(text: string): number {
  return text.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Flow i's destination. */
export function floodDestination(report: FloodReport, i: number): { addr: string; port: number } {
  return { addr: intToIpv4(ipv4ToInt(report.dst) + Math.floor(i / report.ports)), port: report.firstPort + (i % report.ports) };
}

/** The flow a destination belongs to, or -1 when the generator sent nothing there. */
export function floodFlowIndex(report: FloodReport, addr: string, port: number): number {
  const a = ipv4ToInt(addr) - ipv4ToInt(report.dst);
  const p = port - report.firstPort;
  if (a < 0 || p < 0 || p >= report.ports) return -1;
  const i = a * report.ports + p;
  return i < report.flows ? i : -1;
}

/** In A: 198.19.0.0/16 through B (a static neighbour, so no ARP ever interleaves). */
export async function routeFloodDestinations(pair: VethPair) {
  await $`ip -n ${pair.a.ns} route add 198.19.0.0/16 via ${pair.b.ipv4} dev ${pair.a.ifname}`.quiet();
}

/**
 * The generator's flows as the agent reported them, added up over every
 * eviction: egress UDP on `ifname` from `srcAddr`:`srcPort`, keyed by
 * destination. Fed one flow at a time (AgentProcess onFlow), so millions of
 * records cost a map entry per flow, not an object per record.
 */
export class FloodTally {
  private readonly byDestination = new Map<string, { packets: number; bytes: number; records: number }>();
  records = 0;

  constructor(private readonly ifname: string, private readonly srcAddr: string, private readonly srcPort: number) {}

  readonly add = (flow: FlowJson) => {
    if (flow.interface !== this.ifname || flow.direction !== "egress" || flow.protocol !== "UDP") return;
    if (flow.srcAddr !== this.srcAddr || flow.srcPort !== this.srcPort) return;
    this.records++;
    const key = `${flow.dstAddr}:${flow.dstPort}`;
    const tally = this.byDestination.get(key);
    if (tally) {
      tally.packets += flow.packets;
      tally.bytes += flow.bytes;
      tally.records++;
    } else this.byDestination.set(key, { packets: flow.packets, bytes: flow.bytes, records: 1 });
  };

  /**
   * Every flow of `report` against what was tallied: sent and accounted
   * totals, and the flows that differ (the first `show` of them, and how many).
   */
  compare(report: FloodReport, show = 10) {
    const frame = udpFrameBytes(report.payload, false);
    const differing: { flow: number; dst: string; sent: number; packets: number; bytes: number }[] = [];
    let differ = 0;
    let accountedPackets = 0;
    let accountedBytes = 0;
    let flowsSeen = 0;
    const known = new Set<string>();
    for (let i = 0; i < report.flows; i++) {
      const { addr, port } = floodDestination(report, i);
      const key = `${addr}:${port}`;
      known.add(key);
      const sent = floodPackets(report, i);
      const got = this.byDestination.get(key) ?? { packets: 0, bytes: 0, records: 0 };
      if (got.records > 0) flowsSeen++;
      accountedPackets += got.packets;
      accountedBytes += got.bytes;
      if (got.packets !== sent || got.bytes !== sent * frame) {
        if (differ++ < show) differing.push({ flow: i, dst: key, sent, packets: got.packets, bytes: got.bytes });
      }
    }
    const unknownDestinations = [...this.byDestination.keys()].filter((k) => !known.has(k));
    return {
      sentPackets: report.sent,
      accountedPackets,
      sentBytes: report.sent * frame,
      accountedBytes,
      flowsSeen,
      differ,
      differing,
      unknownDestinations: unknownDestinations.slice(0, show),
    };
  }
}
