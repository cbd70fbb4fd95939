/**
 * The differential fuzz: frames from fuzzFrames() through the real program
 * (BPF_PROG_TEST_RUN), its flows read back through the real eviction path,
 * each compared field by field with what the reference dissector says the
 * same frames make.
 *
 * One eviction per frame would cost a map swap each; instead frames run in
 * batches whose flows the reference predicts exactly: a frame joins a batch
 * unless its flow is already there with other first-packet fields (DSCP,
 * ICMP, VLAN, link-layer length, MACs are the inserting packet's, flow.h),
 * since which packet inserts a flow is not ordered across CPUs. A flow the
 * kernel made that the reference did not, a missing one, or any field or
 * count that differs fails the batch; its frames are then run again one by
 * one to name the frames at fault.
 */
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import type { ProgramUnderTest } from "../helpers/test-run.ts";
import { fuzzFrames, type FuzzFrame } from "./frame-generator.ts";
import { RandomSource } from "./random-source.ts";
import type { KnownDivergence } from "./known-divergences.ts";
import { dissect, firstPacketFields, hex, keyOf, STANDARD, type ExpectedPacket, type ReferenceChoices } from "./reference-dissector.ts";

/** BPF_PROG_TEST_RUN runs skbs on the loopback device. */
const TEST_RUN_IFINDEX = 1;
const TC_ACT_UNSPEC = -1;

export interface FuzzOptions {
  seed: number;
  frames: number;
  /** Distinct flows per batch: below the map's size, so nothing spills to the ring. */
  flowsPerBatch?: number;
  /** Frames pinned down one by one at most (each costs an eviction). */
  maxPinned?: number;
  /**
   * Readings where the parser is known to differ (known-divergences.ts): the
   * frames are checked against the reference with these swapped in, and
   * counted per divergence where that changed the answer.
   */
  knownDivergences?: readonly KnownDivergence[];
  /** Progress lines. */
  log?: (line: string) => void;
}

/** One frame whose flow differs from the reference's. */
export interface Mismatch {
  frameHex: string;
  origin: string;
  egress: boolean;
  /** "field: expected X, got Y", one per differing field. */
  differences: string[];
}

export interface FuzzReport {
  seed: number;
  frames: number;
  batches: number;
  flows: number;
  /** Frames in batches whose flows differed from the reference (exact only while maxPinned was not reached). */
  mismatchedFrames: number;
  /** Frames that were run alone and differed. */
  mismatches: Mismatch[];
  /** Frames whose answer a known divergence changed, by its name. */
  divergentFrames: Record<string, number>;
  seconds: number;
  framesPerSecond: number;
}

interface Deferred {
  frame: FuzzFrame;
  packet: ExpectedPacket;
  key: string;
  firstFields: string;
}

/** The reference's flow: its first packet's fields, and what later packets add. */
interface ExpectedFlow {
  first: ExpectedPacket;
  firstFields: string;
  egress: boolean;
  packets: number;
  bytes: number;
  tcpFlags: number;
  flags: number;
  frames: FuzzFrame[];
}

function recordKey(r: FlowRecord): string {
  return `${r.direction === "egress" ? "e" : "i"}|${r.ethType}|${r.protocol}|${hex(r.srcAddr)}|${hex(r.dstAddr)}|${r.srcPort}|${r.dstPort}`;
}

/** Every field of a flow record against the reference's flow: the differences, empty when equal. */
export function compareFlow(expected: ExpectedFlow, got: FlowRecord): string[] {
  const e = expected.first;
  const pairs: [string, unknown, unknown][] = [
    ["ifindex", TEST_RUN_IFINDEX, got.ifindex],
    ["direction", expected.egress ? "egress" : "ingress", got.direction],
    ["ethType", e.ethType, got.ethType],
    ["protocol", e.protocol, got.protocol],
    ["srcAddr", hex(e.srcAddr), hex(got.srcAddr)],
    ["dstAddr", hex(e.dstAddr), hex(got.dstAddr)],
    ["srcPort", e.srcPort, got.srcPort],
    ["dstPort", e.dstPort, got.dstPort],
    ["packets", expected.packets, got.packets],
    ["bytes", expected.bytes, got.bytes],
    ["tcpFlags", expected.tcpFlags, got.tcpFlags],
    ["flags", expected.flags, got.flags],
    ["dscp", e.dscp, got.dscp],
    ["icmpType", e.icmpType, got.icmpType],
    ["icmpCode", e.icmpCode, got.icmpCode],
    ["l2HeaderLen", e.l2HeaderLen, got.l2HeaderLen],
    ["vlanId", e.vlanId, got.vlanId ?? 0],
    ["srcMac", hex(e.srcMac), hex(got.srcMac)],
    ["dstMac", hex(e.dstMac), hex(got.dstMac)],
  ];
  return pairs.filter(([, a, b]) => a !== b).map(([name, a, b]) => `${name}: expected ${show(a)}, got ${show(b)}`);
}

const show = (v: unknown) => (typeof v === "number" && v > 9 ? `${v} (0x${v.toString(16)})` : String(v));

function newFlow(f: FuzzFrame, p: ExpectedPacket): ExpectedFlow {
  return { first: p, firstFields: firstPacketFields(p), egress: f.egress, packets: 0, bytes: 0, tcpFlags: 0, flags: 0, frames: [] };
}

function addFrame(flow: ExpectedFlow, f: FuzzFrame, p: ExpectedPacket) {
  flow.packets += 1;
  flow.bytes += f.frame.length;
  flow.tcpFlags |= p.tcpFlags;
  flow.flags |= p.flags;
  flow.frames.push(f);
}

function runFrame(prog: ProgramUnderTest, f: FuzzFrame) {
  const verdict = prog.run(f.frame, { egress: f.egress });
  if (verdict !== TC_ACT_UNSPEC) throw new Error(`program returned ${verdict} for frame ${hex(f.frame)}, expected TC_ACT_UNSPEC (-1)`);
}

/** Runs one frame alone: its differences from the reference (empty when it matches). */
export async function checkOneFrame(prog: ProgramUnderTest, f: FuzzFrame, choices: ReferenceChoices = STANDARD): Promise<string[]> {
  const p = dissect(f.frame, choices);
  const flow = newFlow(f, p);
  addFrame(flow, f, p);
  runFrame(prog, f);
  const { records } = await prog.evict();
  if (records.length !== 1) return [`flows: expected 1, got ${records.length}`];
  return compareFlow(flow, records[0]!);
}

/** Runs `options.frames` frames from the seed's stream; never throws on a mismatch, reports it. */
export async function runDifferentialFuzz(prog: ProgramUnderTest, options: FuzzOptions): Promise<FuzzReport> {
  const { seed, frames, flowsPerBatch = 2048, maxPinned = 40, knownDivergences = [], log = () => {} } = options;
  const choices: ReferenceChoices = Object.assign({}, STANDARD, ...knownDivergences.map((d) => d.parserReads));
  const divergences = knownDivergences.map((d) => ({ name: d.name, choices: { ...STANDARD, ...d.parserReads } }));
  const stream = fuzzFrames(new RandomSource(seed));
  const report: FuzzReport = { seed, frames: 0, batches: 0, flows: 0, mismatchedFrames: 0, mismatches: [], divergentFrames: {}, seconds: 0, framesPerSecond: 0 };
  const started = performance.now();
  // Frames whose flow was already in a batch with other first-packet fields: by flow, then by those fields.
  const deferred = new Map<string, Map<string, Deferred[]>>();
  let nextLog = 100_000;

  while (report.frames < frames || deferred.size > 0) {
    const batch = new Map<string, ExpectedFlow>();
    const admit = (d: Deferred): boolean => {
      let flow = batch.get(d.key);
      if (!flow) batch.set(d.key, (flow = newFlow(d.frame, d.packet)));
      else if (flow.firstFields !== d.firstFields) return false;
      addFrame(flow, d.frame, d.packet);
      runFrame(prog, d.frame);
      return true;
    };
    // One group of each deferred flow joins this batch.
    for (const [key, groups] of deferred) {
      const [fields, group] = groups.entries().next().value!;
      for (const d of group) admit(d);
      groups.delete(fields);
      if (groups.size === 0) deferred.delete(key);
    }
    while (batch.size < flowsPerBatch && report.frames < frames) {
      const frame = stream.next().value as FuzzFrame;
      report.frames++;
      const packet = dissect(frame.frame, choices);
      if (divergences.length > 0) countDivergences(frame.frame, divergences, report.divergentFrames);
      const d = { frame, packet, key: keyOf(packet, frame.egress), firstFields: firstPacketFields(packet) };
      if (admit(d)) continue;
      let groups = deferred.get(d.key);
      if (!groups) deferred.set(d.key, (groups = new Map()));
      const group = groups.get(d.firstFields);
      if (group) group.push(d);
      else groups.set(d.firstFields, [d]);
    }

    const { records } = await prog.evict();
    report.batches++;
    report.flows += records.length;
    const faulty = new Set<ExpectedFlow>();
    const expected = [...batch.values()];
    let unexpected = 0;
    for (const r of records) {
      const flow = batch.get(recordKey(r));
      if (!flow) unexpected++; // then some expected flow is missing or short, unless a frame counted twice
      else if (compareFlow(flow, r).length > 0) faulty.add(flow);
      batch.delete(recordKey(r));
    }
    for (const flow of batch.values()) faulty.add(flow); // expected, never made
    if (unexpected > 0 && faulty.size === 0) for (const flow of expected) faulty.add(flow);
    for (const flow of faulty) {
      report.mismatchedFrames += flow.frames.length;
      for (const f of flow.frames) {
        if (report.mismatches.length >= maxPinned) break;
        const differences = await checkOneFrame(prog, f, choices);
        if (differences.length > 0) report.mismatches.push({ frameHex: hex(f.frame), origin: f.origin, egress: f.egress, differences });
      }
    }
    if (report.frames >= nextLog) {
      log(`${report.frames} frames, ${report.mismatchedFrames} mismatched, ${Math.round(report.frames / ((performance.now() - started) / 1000))} frames/s`);
      nextLog += 100_000;
    }
  }
  report.seconds = (performance.now() - started) / 1000;
  report.framesPerSecond = Math.round(report.frames / report.seconds);
  return report;
}

function countDivergences(frame: Uint8Array, divergences: { name: string; choices: ReferenceChoices }[], counts: Record<string, number>) {
  const standard = signature(dissect(frame));
  for (const d of divergences) if (signature(dissect(frame, d.choices)) !== standard) counts[d.name] = (counts[d.name] ?? 0) + 1;
}

const signature = (p: ExpectedPacket) => `${keyOf(p, false)}|${firstPacketFields(p)}|${p.flags}|${p.tcpFlags}`;

/** The report as lines a person reads: totals, then each pinned frame with its differences. */
export function describeReport(r: FuzzReport): string[] {
  const lines = [
    `seed ${r.seed} (FUZZ_SEED=${r.seed} FUZZ_FRAMES=${r.frames} reproduces): ${r.frames} frames, ${r.flows} flows in ${r.batches} batches, ` +
      `${r.seconds.toFixed(1)} s, ${r.framesPerSecond} frames/s; ${r.mismatchedFrames} frames in mismatched flows`,
  ];
  for (const [name, n] of Object.entries(r.divergentFrames)) lines.push(`  known divergence, ${n} frames: ${name}`);
  for (const m of r.mismatches) lines.push(`  ${m.origin}${m.egress ? " (egress)" : ""}: ${m.differences.join("; ")}\n    frame ${m.frameHex}`);
  return lines;
}
