/**
 * Interface churn against a running agent: veth pairs created and deleted one
 * after another in a namespace of their own, each checked as the agent
 * reports it (its log line, then Status) and as the kernel holds it. Shared by
 * test/e2e/interface-churn.test.ts (asserts) and bench/interface-churn.ts
 * (prints the figures).
 *
 * A cycle is a random pause (0 to one poll interval, so that pairs appear at
 * any point of the agent's poll period), `ip link del` of the previous pair,
 * `ip link add` of the next, then the wait until the agent has logged the new
 * pair attached and the old one detached (one poll sees both, so a cycle
 * costs about one and a half poll intervals). Only one pair exists at a time,
 * and every pair goes through create → attached → deleted → detached. Both
 * ends match the agent's filter.
 *
 * Kernel truth, checked after every cycle:
 *  - TCX: the agent holds exactly the four links of the live pair (fdinfo:
 *    link ids and the ifindex the kernel has each on, 0 for a vanished
 *    device), and the kernel's link table has no other link to its programs.
 *  - tc: the namespace's tc filters (`bpftool net show`) are exactly the live
 *    pair's, ingress and egress, and the agent holds no link.
 * Departures are recorded in `problems`; a missed deadline, or MAX_PROBLEMS
 * of them, ends the run.
 */
import { $ } from "bun";
import { AgentProcess } from "./agent-process.ts";
import { heldLinks, heldProgramIds, kernelLinks } from "./bpf-links.ts";
import { fdCount, rssKiB } from "./process-resources.ts";
import { StatusRelay } from "./status-relay.ts";

export interface ChurnOptions {
  cycles: number;
  /** --interface-poll-interval, ms. */
  pollMs: number;
  attachMode?: "auto" | "tc";
  /** Added to the agent's environment. */
  agentEnv?: Record<string, string>;
  /** After which cycles (1-based) fds, links and RSS are read; the last cycle always is. */
  sampleAt?: number[];
  progress?: (line: string) => void;
}

/** The agent after a cycle: the pair of that cycle attached, the one before detached. */
export interface ChurnSample {
  cycle: number;
  fds: number;
  /** BPF link fds the agent holds. */
  links: number;
  rssKiB: number;
}

export interface ChurnResult {
  cyclesDone: number;
  /** Per cycle: from `ip link add` returning to the agent's "attached to" lines of both ends. */
  attachMs: number[];
  /** Per cycle but the first: from `ip link del` returning to the "detached from" lines of both ends. */
  detachMs: number[];
  samples: ChurnSample[];
  /** The agent's VmRSS after every cycle, KiB (index 0: cycle 1). */
  rssKiB: number[];
  /** After the last pair was deleted and reported detached. */
  end: { fds: number; links: number; statusInterfaces: string[]; kernelLinksToOurPrograms: number };
  problems: string[];
  durationMs: number;
  exitCode: number;
  /** Lines of the agent's stderr at warn or error level, after startup. */
  warnings: string[];
}

interface Pair {
  a: string;
  b: string;
  ifindexA: number;
  ifindexB: number;
}

/** A run stops at this many problems (a systematic one would otherwise repeat every cycle). */
const MAX_PROBLEMS = 10;
const TCX_INGRESS = 46;
const TCX_EGRESS = 47;

export async function runInterfaceChurn(options: ChurnOptions): Promise<ChurnResult> {
  const { cycles, pollMs, attachMode = "auto", progress = () => {} } = options;
  const sampleAt = new Set([...(options.sampleAt ?? []), cycles]);
  const ns = `chrn-${process.pid}`;
  // IFNAMSIZ: "chrn" + 5 + "a" + the cycle number stays within 15 characters up to 99,999 cycles.
  const prefix = `chrn${process.pid % 100_000}`;
  const result: ChurnResult = {
    cyclesDone: 0,
    attachMs: [],
    detachMs: [],
    samples: [],
    rssKiB: [],
    end: { fds: -1, links: -1, statusInterfaces: [], kernelLinksToOurPrograms: -1 },
    problems: [],
    durationMs: 0,
    exitCode: -1,
    warnings: [],
  };
  await $`ip netns add ${ns}`.quiet();
  try {
    await $`ip -n ${ns} link set lo up`.quiet(); // the agent's API listens on the namespace's 127.0.0.1
    // Device links only: the process hooks' cgroup links (held for the agent's whole life) are tested elsewhere.
    const args = ["run", "--interfaces", `/^${prefix}[ab]/`, "--interface-poll-interval", `${pollMs}ms`, "--attach-mode", attachMode, "--enable-process", "false"];
    // No interface matches yet, so no "capturing on" line: ready when the API serves.
    const agent = await AgentProcess.start(args, { ns, readyText: "AgentService) on", env: options.agentEnv });
    await using _agent = agent;
    await using relay = new StatusRelay(ns);
    const ourPrograms = heldProgramIds(agent.pid);
    const deadlineMs = Math.max(1000, 5 * pollMs);
    const started = performance.now();
    let prev: Pair | undefined;
    const startupLog = agent.stderr.length;
    let seenUpTo = startupLog;

    /** Waits for every line in `wanted` to appear after `seenUpTo`; returns when each was seen, or undefined past `deadline`. */
    const waitForLines = async (wanted: string[], deadline: number): Promise<(number | undefined)[]> => {
      const at: (number | undefined)[] = wanted.map(() => undefined);
      for (;;) {
        const now = performance.now();
        wanted.forEach((line, i) => {
          if (at[i] === undefined && agent.stderr.indexOf(line, seenUpTo) >= 0) at[i] = now;
        });
        if (at.every((x) => x !== undefined) || now > deadline) return at;
        await Bun.sleep(1);
      }
    };

    for (let cycle = 1; cycle <= cycles + 1; cycle++) {
      const last = cycle === cycles + 1; // only deletes the final pair
      // Pairs appear at any point of the agent's poll period, as real ones do: without this the loop
      // locks to the poll timer (it resumes right after a poll) and never samples a pair made just after one.
      await Bun.sleep(Math.random() * pollMs);
      const next = last ? undefined : { a: `${prefix}a${cycle}`, b: `${prefix}b${cycle}` };
      seenUpTo = agent.stderr.length;
      // Latencies count from the `ip` that made the change returning: the agent cannot act before the kernel has.
      let deleted = 0;
      if (prev) {
        await ipBatch(ns, [`link del ${prev.a}`]);
        deleted = performance.now();
      }
      let pair: Pair | undefined;
      let added = 0;
      if (next) {
        const shown = await ipBatch(ns, [`link add ${next.a} type veth peer name ${next.b}`, `link show dev ${next.a}`, `link show dev ${next.b}`]);
        added = performance.now();
        pair = { ...next, ifindexA: shown.get(next.a)!, ifindexB: shown.get(next.b)! };
      }
      const kind = attachMode === "tc" ? "tc" : "tcx";
      const attachLines = pair ? [`attached to ${pair.a} (${kind}, ifindex ${pair.ifindexA})`, `attached to ${pair.b} (${kind}, ifindex ${pair.ifindexB})`] : [];
      const detachLines = prev ? [`detached from ${prev.a} (interface removed)`, `detached from ${prev.b} (interface removed)`] : [];
      const wanted = [...attachLines, ...detachLines];
      const at = await waitForLines(wanted, performance.now() + deadlineMs);
      const missing = wanted.filter((_, i) => at[i] === undefined);
      if (missing.length > 0) {
        result.problems.push(`cycle ${cycle}: not logged within ${deadlineMs} ms: ${missing.join("; ")}`);
        break;
      }
      const seen = at as number[];
      if (pair) result.attachMs.push(Math.max(...seen.slice(0, attachLines.length)) - added);
      if (prev) result.detachMs.push(Math.max(...seen.slice(attachLines.length)) - deleted);

      // The agent's report: exactly the live pair.
      const status = await relay.status();
      const reported = status.interfaces.map((i) => `${i.name}#${i.ifindex}`).sort();
      const expected = pair ? [`${pair.a}#${pair.ifindexA}`, `${pair.b}#${pair.ifindexB}`].sort() : [];
      if (reported.join() !== expected.join()) result.problems.push(`cycle ${cycle}: Status lists [${reported}], expected [${expected}]`);

      // The kernel's: exactly the live pair's attachments, nothing for a vanished device.
      const live = pair ? [pair.ifindexA, pair.ifindexB] : [];
      result.problems.push(...(await kernelProblems(cycle, agent.pid, ns, attachMode, ourPrograms, live)));
      if (result.problems.length >= MAX_PROBLEMS) {
        result.problems.push(`stopped after cycle ${cycle}: ${MAX_PROBLEMS} problems are enough to go on`);
        break;
      }
      if (last) {
        result.end = {
          fds: fdCount(agent.pid),
          links: heldLinks(agent.pid).length,
          statusInterfaces: status.interfaces.map((i) => i.name),
          kernelLinksToOurPrograms: (await kernelLinks()).filter((l) => ourPrograms.has(l.progId)).length,
        };
        break;
      }
      result.cyclesDone = cycle;
      result.rssKiB.push(rssKiB(agent.pid));
      if (sampleAt.has(cycle)) {
        const sample = { cycle, fds: fdCount(agent.pid), links: heldLinks(agent.pid).length, rssKiB: rssKiB(agent.pid) };
        result.samples.push(sample);
        progress(`cycle ${cycle}: fds ${sample.fds}, links ${sample.links}, RSS ${(sample.rssKiB / 1024).toFixed(1)} MiB, ${((performance.now() - started) / 1000).toFixed(0)} s`);
      }
      prev = pair;
    }
    result.durationMs = performance.now() - started;
    result.exitCode = await agent.stop();
    // After startup: its warning that nothing matches yet is expected.
    result.warnings = agent.stderr.slice(startupLog).split("\n").filter((l) => /^netflow-agent: (warn|error): /.test(l));
  } finally {
    await $`ip netns del ${ns}`.quiet().nothrow();
  }
  return result;
}

/** Runs `ip -o -batch -` in `ns`; returns the ifindex of every device a `link show` printed. */
async function ipBatch(ns: string, commands: string[]): Promise<Map<string, number>> {
  const proc = Bun.spawn(["ip", "-n", ns, "-o", "-batch", "-"], { stdin: new TextEncoder().encode(commands.join("\n") + "\n"), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`ip -n ${ns} -batch (${commands.join("; ")}): exit ${code}: ${err.trim()}`);
  const shown = new Map<string, number>();
  for (const line of out.split("\n")) {
    // "7: chrn123a1@chrn123b1: <BROADCAST,MULTICAST,M-DOWN> …"
    const m = /^(\d+): ([^:@\s]+)/.exec(line);
    if (m) shown.set(m[2]!, Number(m[1]));
  }
  return shown;
}

async function kernelProblems(cycle: number, pid: number, ns: string, mode: "auto" | "tc", ourPrograms: Set<number>, live: number[]): Promise<string[]> {
  const problems: string[] = [];
  const held = heldLinks(pid);
  if (mode === "tc") {
    if (held.length > 0) problems.push(`cycle ${cycle}: tc mode, yet the agent holds ${held.length} BPF link(s)`);
    const filters = (await tcPrograms(ns)).filter((f) => ourPrograms.has(f.progId));
    const got = filters.map((f) => `${f.ifindex}/${f.kind}`).sort();
    const want = live.flatMap((i) => [`${i}/clsact/egress`, `${i}/clsact/ingress`]).sort();
    if (got.join() !== want.join()) problems.push(`cycle ${cycle}: tc filters of our programs [${got}], expected [${want}]`);
    return problems;
  }
  const got = held.map((l) => `${l.linkType}:${l.ifindex}/${l.attachType}`).sort();
  const want = live.flatMap((i) => [`tcx:${i}/${TCX_INGRESS}`, `tcx:${i}/${TCX_EGRESS}`]).sort();
  if (got.join() !== want.join()) problems.push(`cycle ${cycle}: the agent holds links [${got}], expected [${want}] (ifindex 0: a vanished device's)`);
  const inKernel = (await kernelLinks()).filter((l) => ourPrograms.has(l.progId)).map((l) => l.id);
  const heldIds = held.map((l) => l.linkId);
  if (inKernel.sort().join() !== heldIds.sort().join())
    problems.push(`cycle ${cycle}: the kernel has links [${inKernel}] to the agent's programs, the agent holds [${heldIds}]`);
  return problems;
}

/** tc (clsact) programs on the devices of `ns`, from `bpftool net show`. */
async function tcPrograms(ns: string): Promise<{ ifindex: number; kind: string; progId: number }[]> {
  const out = await $`ip netns exec ${ns} bpftool -j net show`.quiet().text();
  // The program's id is "id" up to bpftool 7.2, "prog_id" since.
  const sections = JSON.parse(out) as { tc?: { ifindex: number; kind: string; id?: number; prog_id?: number }[] }[];
  return sections.flatMap((s) => s.tc ?? []).map((t) => ({ ifindex: t.ifindex, kind: t.kind, progId: t.prog_id ?? t.id ?? 0 }));
}
