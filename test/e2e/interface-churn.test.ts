/**
 * Interface churn (issue 12): veth pairs created and deleted one after
 * another while the agent runs (test/helpers/interface-churn.ts has the
 * cycle). Every pair is attached within one poll interval, nothing stays
 * attached to a vanished one — as the agent reports it and as the kernel
 * holds it — and fds, BPF links and RSS stay flat. Then devices replaced
 * between two polls under a vanished one's ifindex: attached again, and
 * another tool's clsact on them left alone.
 *
 * A cycle costs ~155 ms (1.5 poll intervals of 100 ms, plus the checks), so
 * the default of 800 keeps the file under 3 minutes; the full run:
 *   CHURN_CYCLES=1000 bun test --timeout 600000 test/e2e/interface-churn.test.ts
 *   sudo bun bench/interface-churn.ts     the figures of a run, as README quotes them
 */
import { $ } from "bun";
import { expect } from "bun:test";
import { join } from "node:path";
import { AgentProcess } from "../helpers/agent-process.ts";
import { heldLinks } from "../helpers/bpf-links.ts";
import { runInterfaceChurn, type ChurnResult } from "../helpers/interface-churn.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { StatusRelay } from "../helpers/status-relay.ts";

const CYCLES = Number(process.env.CHURN_CYCLES ?? 800);
const TC_CYCLES = Math.min(100, CYCLES);
/** The shortest --interface-poll-interval: the most polls, the most races. */
const POLL_MS = 100;
/**
 * A new device is found at the next poll (≤ POLL_MS after it appears); then come the attach itself (tc
 * needs several netlink requests) and the log line reaching this process: on a loaded 2-core VM up to
 * ~190 ms was seen for that part. The bound is on every cycle, not a percentile of a timing.
 */
const FOUND_AND_ATTACHED_MS = POLL_MS + 200;
/** Sampled after warm-up (the API's connection, the first eviction's spare map) and at the end. */
const WARM = Math.min(100, CYCLES);
/**
 * Growth of the agent's RSS low-water mark (the least over 50 cycles: one
 * reading swings by up to 12 MiB with Bun's GC) from cycle 100 to the last.
 * Measured: +3 to +7 MiB by cycle 1000, up to +11 MiB at cycles between, and
 * the same drift without churn (an agent polling for 5 min: +8 MiB in its
 * first minute, +1.6 MiB in the next four) — the runtime settling, not the
 * cycles: with the names fix the objects surviving a full GC stay flat over
 * 3000 cycles. So a guard against gross leaks, 16 KiB a cycle at 1000 cycles;
 * fds and links are the exact checks.
 */
const RSS_GROWTH_MAX_KIB = 16 * 1024;

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const lowWater = (r: ChurnResult, cycle: number) => Math.min(...r.rssKiB.slice(Math.max(0, cycle - 50), cycle));

function expectChurnClean(r: ChurnResult, cycles: number) {
  expect(r.problems).toEqual([]);
  expect(r.cyclesDone).toBe(cycles);
  expect(r.warnings).toEqual([]);
  expect(r.exitCode).toBe(0);
  // Within one poll interval: the next poll takes a pair in, plus the poll's own work and timer lateness.
  // Measured on the 2-core VM: p99 99–105 ms, max 106–121 ms; with a stress-ng beside (load 5) p99 118, max 161.
  // A poll skipped now and then shows in the p99, a lost device in the deadline (1 s, a problem).
  expect(Math.max(...r.attachMs, ...r.detachMs)).toBeLessThanOrEqual(FOUND_AND_ATTACHED_MS);
  const [warm, end] = [r.samples.find((s) => s.cycle === WARM)!, r.samples.find((s) => s.cycle === cycles)!];
  expect({ fds: end.fds, links: end.links }).toEqual({ fds: warm.fds, links: warm.links });
  expect(lowWater(r, cycles) - lowWater(r, WARM)).toBeLessThanOrEqual(RSS_GROWTH_MAX_KIB);
  // The last pair deleted: nothing held, nothing reported, no link in the kernel.
  expect(r.end).toEqual({ fds: end.fds - end.links, links: 0, statusInterfaces: [], kernelLinksToOurPrograms: 0 });
}

function figures(r: ChurnResult, cycles: number) {
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  const s = (c: number) => r.samples.find((x) => x.cycle === c);
  return (
    `${r.cyclesDone} cycles in ${(r.durationMs / 1000).toFixed(0)} s; attach ms median ${quantile(r.attachMs, 0.5).toFixed(0)} ` +
    `p99 ${quantile(r.attachMs, 0.99).toFixed(0)} max ${Math.max(...r.attachMs).toFixed(0)}; detach max ${Math.max(...r.detachMs).toFixed(0)}; ` +
    `fds/links ${s(WARM)?.fds}/${s(WARM)?.links} at ${WARM}, ${s(cycles)?.fds}/${s(cycles)?.links} at ${cycles}; ` +
    `RSS ${mib(s(WARM)?.rssKiB ?? 0)} → ${mib(s(cycles)?.rssKiB ?? 0)} MiB, low-water ${mib(lowWater(r, WARM))} → ${mib(lowWater(r, cycles))} MiB`
  );
}

kernelTest(`TCX: ${CYCLES} veth pairs created and deleted, each attached within a poll, nothing left, fds, links and RSS flat`, async () => {
  const r = await runInterfaceChurn({ cycles: CYCLES, pollMs: POLL_MS, sampleAt: [WARM] });
  console.log(`interface churn, TCX: ${figures(r, CYCLES)}`);
  expectChurnClean(r, CYCLES);
  expect(r.samples.every((s) => s.links === 4)).toBe(true); // both ends, ingress and egress
}, 600_000);

kernelTest(`tc mode: ${TC_CYCLES} pairs, the namespace's tc filters exactly the live pair's after each`, async () => {
  const r = await runInterfaceChurn({ cycles: TC_CYCLES, pollMs: POLL_MS, attachMode: "tc", sampleAt: [Math.min(50, TC_CYCLES)] });
  console.log(`interface churn, tc: ${figures(r, TC_CYCLES)}`);
  expect(r.problems).toEqual([]);
  expect(r.cyclesDone).toBe(TC_CYCLES);
  expect(r.warnings).toEqual([]);
  expect(r.exitCode).toBe(0);
  expect(Math.max(...r.attachMs, ...r.detachMs)).toBeLessThanOrEqual(FOUND_AND_ATTACHED_MS);
  expect(r.end).toMatchObject({ links: 0, statusInterfaces: [] });
}, 120_000);

/** An empty namespace (lo up, for the agent's API) and an agent watching its chrn* devices, polling every second. */
async function replacementSetup(attachMode: "auto" | "tc") {
  const ns = `chrnR-${process.pid}-${attachMode}`;
  await $`ip netns add ${ns}`.quiet();
  await $`ip -n ${ns} link set lo up`.quiet();
  const agent = await AgentProcess.start(["run", "--interfaces", "/^chrn/", "--interface-poll-interval", "1s", "--attach-mode", attachMode], {
    ns,
    readyText: "AgentService) on",
  });
  const waitFor = async (line: string, from: number) => {
    const deadline = Date.now() + 5000;
    while (agent.stderr.indexOf(line, from) < 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(agent.stderr.slice(from)).toContain(line);
  };
  return {
    ns,
    agent,
    waitFor,
    async [Symbol.asyncDispose]() {
      await agent[Symbol.asyncDispose]();
      await $`ip netns del ${ns}`.quiet().nothrow();
    },
  };
}

const tcxCount = join(import.meta.dir, "..", "helpers", "tcx-count.ts");

kernelTest("TCX: a device deleted and created again between two polls, under its name and ifindex, is attached again", async () => {
  await using s = await replacementSetup("auto");
  const { ns, agent, waitFor } = s;
  let from = agent.stderr.length;
  await $`ip -n ${ns} link add chrnRa index 500 type veth peer name chrnRb index 501`.quiet();
  await waitFor("attached to chrnRb (tcx, ifindex 501)", from);
  // Right after a poll: the next one is a second away, and sees the same names and ifindexes.
  from = agent.stderr.length;
  await $`ip -n ${ns} -batch - < ${Buffer.from("link del chrnRa\nlink add chrnRa index 500 type veth peer name chrnRb index 501\n")}`.quiet();
  await waitFor("attached to chrnRb (tcx, ifindex 501)", from);
  expect(agent.stderr.slice(from).split("\n").filter(Boolean).sort()).toEqual([
    "netflow-agent: attached to chrnRa (tcx, ifindex 500)",
    "netflow-agent: attached to chrnRb (tcx, ifindex 501)",
    "netflow-agent: detached from chrnRa (interface replaced)",
    "netflow-agent: detached from chrnRb (interface replaced)",
  ]);
  // Kernel truth: the new devices carry the programs; the agent holds no link of the deleted ones.
  for (const dev of ["chrnRa", "chrnRb"]) expect(Number(await $`ip netns exec ${ns} ${process.execPath} ${tcxCount} ${dev}`.text())).toBe(2);
  // The device links (the process hooks' cgroup links are not about devices).
  expect(heldLinks(agent.pid).filter((l) => l.linkType === "tcx").map((l) => l.ifindex).sort()).toEqual([500, 500, 501, 501]);
  await using relay = new StatusRelay(ns);
  expect((await relay.status()).interfaces.map((i) => `${i.name}#${i.ifindex}`).sort()).toEqual(["chrnRa#500", "chrnRb#501"]);
  expect(await agent.stop()).toBe(0);
}, 30_000);

kernelTest("tc mode: a device that takes a vanished device's ifindex keeps its own clsact and filters", async () => {
  await using s = await replacementSetup("tc");
  const { ns, agent, waitFor } = s;
  let from = agent.stderr.length;
  await $`ip -n ${ns} link add chrnRa index 500 type veth peer name chrnRb index 501`.quiet();
  await waitFor("attached to chrnRb (tc, ifindex 501)", from);
  // Right after a poll: another tool's device takes ifindex 500 and 501, with its own clsact and filter.
  from = agent.stderr.length;
  await $`ip -n ${ns} -batch - < ${Buffer.from("link del chrnRa\nlink add other500 index 500 type veth peer name other501 index 501\n")}`.quiet();
  await $`ip netns exec ${ns} tc qdisc add dev other500 clsact`.quiet();
  // A classic-BPF cls_bpf filter ("accept"): cls_bpf is the one classifier every kernel the agent runs on has.
  await $`ip netns exec ${ns} tc filter add dev other500 ingress pref 7 bpf bytecode ${"1,6 0 0 4294967295,"}`.quiet();
  await waitFor("detached from chrnRb (interface", from);
  expect(await $`ip netns exec ${ns} tc qdisc show dev other500`.text()).toContain("clsact");
  expect(await $`ip netns exec ${ns} tc filter show dev other500 ingress`.text()).toContain("bytecode '1,6 0 0 4294967295'");
  expect(agent.stderr.slice(from)).toContain("detached from chrnRa (interface replaced)");
  expect(await agent.stop()).toBe(0);
  expect(await $`ip netns exec ${ns} tc filter show dev other500 ingress`.text()).toContain("bytecode '1,6 0 0 4294967295'");
}, 30_000);
