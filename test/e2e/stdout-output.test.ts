/**
 * stdout as the sink: a final eviction far larger than a pipe's buffer
 * arrives whole after SIGTERM, a reader that goes away (`run | head`)
 * stops the agent with one line, everything detached, and a reader that
 * stalls (`run | sleep`) costs counted records, never eviction, the API or
 * a timely exit.
 */
import { $ } from "bun";
import { expect } from "bun:test";
import { join } from "node:path";
import { FifoPipe } from "../export/fifo-pipe.ts";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";
import { statusIn, type AgentStatusReport } from "../helpers/agent-status.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { receiveUdp } from "../helpers/traffic.ts";
import { DEADLINE_MS, waitFor } from "../helpers/wait-for.ts";

const tcxCount = join(import.meta.dir, "..", "helpers", "tcx-count.ts");

kernelTest("3000 flows in the final eviction (≈1 MB of JSON through a pipe) all arrive after SIGTERM", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  // Nothing is evicted before the stop (the map starts large enough not to evict early): the whole output is the final flush.
  await using agent = await AgentProcess.start(["run", "--cache-active-timeout", "1h", "--cache-min-flows", "16384", "--interfaces", a.ifname], { ns: a.ns });
  const sink = await receiveUdp(b, b.ipv4, 9, 3000);
  const script = `
    import dgram from "node:dgram";
    for (let i = 0; i < 3000; i++) {
      const s = dgram.createSocket("udp4");
      await new Promise((r) => s.bind(30000 + i, r));
      await new Promise((r, j) => s.send(Buffer.alloc(8), 9, "${b.ipv4}", (e) => (e ? j(e) : r())));
      s.close();
    }`;
  // Counted at TC egress in the sender's send calls: all 3000 flows are in the map now.
  await $`ip netns exec ${a.ns} ${process.execPath} -e ${script}`.quiet();
  sink.kill();
  expect(agent.flows).toHaveLength(0);
  expect(await agent.stop()).toBe(0);
  const ports = new Set(agent.flows.filter((f) => f.direction === "egress" && f.dstPort === 9).map((f) => f.srcPort));
  expect(ports.size).toBe(3000);
}, 60000);

kernelTest("run | head -1: one line on stderr, exit 1, nothing left attached", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  const proc = Bun.spawn(["ip", "netns", "exec", a.ns, process.execPath, cliPath, "run", "--cache-active-timeout", "300ms", "--interfaces", "lo", "--api", "off"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  // Whatever fails below, the agent must not outlive the test.
  await using _stopAgent = { [Symbol.asyncDispose]: async () => void (proc.exitCode === null && proc.kill("SIGKILL")) };
  // Traffic on the namespace's loopback until the first flow line arrives, then the reader leaves.
  const reader = proc.stdout.getReader();
  let first = "";
  const deadline = Date.now() + DEADLINE_MS;
  let pending = reader.read();
  while (!first.includes("\n") && Date.now() < deadline) {
    await $`ip netns exec ${a.ns} ${process.execPath} -e ${'require("node:dgram").createSocket("udp4").send("x", 9, "127.0.0.1", () => process.exit(0))'}`.quiet().nothrow();
    const chunk = await Promise.race([pending, Bun.sleep(400).then(() => undefined)]);
    if (chunk) {
      if (chunk.value) first += new TextDecoder().decode(chunk.value);
      pending = reader.read();
    }
  }
  expect(first).toContain('"interface":"lo"');
  await reader.cancel(); // closes our end of the pipe: the agent's next write gets EPIPE
  // Keep traffic flowing until the agent exits, so there is a next eviction to write.
  const exited = proc.exited;
  for (const until = Date.now() + DEADLINE_MS; proc.exitCode === null && Date.now() < until; ) {
    await $`ip netns exec ${a.ns} ${process.execPath} -e ${'require("node:dgram").createSocket("udp4").send("x", 9, "127.0.0.1", () => process.exit(0))'}`.quiet().nothrow();
    await Promise.race([exited, Bun.sleep(400)]);
  }
  if (proc.exitCode === null) proc.kill("SIGKILL");
  const code = await exited;
  const stderr = await new Response(proc.stderr).text();
  expect(code).toBe(1);
  const errors = stderr.split("\n").filter((l) => l.includes("error"));
  expect(errors).toEqual(["netflow-agent: error: stdout was closed by its reader: stopped"]);
  expect(stderr).toContain("stdout closed: detaching and flushing");
  expect(Number(await $`ip netns exec ${a.ns} ${process.execPath} ${tcxCount} lo`.text())).toBe(0);
}, 60000);

kernelTest("run | sleep: with the reader stalled, eviction and the API go on, records are dropped and counted, SIGTERM exits within --export-flush-timeout", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  await using pipe = await FifoPipe.create(["sleep", "300"]);
  const api = "127.0.0.1:9991";
  const flushTimeoutMs = 1000;
  const agent = Bun.spawn(
    ["ip", "netns", "exec", a.ns, process.execPath, cliPath, "run", "--interfaces", a.ifname, "--cache-active-timeout", "200ms", "--export-flush-timeout", `${flushTimeoutMs}ms`, "--api", api],
    { stdin: "ignore", stdout: pipe.writeFd, stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
  );
  pipe.closeWriteEnd(); // the agent and `sleep` hold the pipe now, as in `run | sleep 300`
  await using _stopAgent = { [Symbol.asyncDispose]: async () => void (agent.exitCode === null && agent.kill("SIGKILL")) };
  let stderr = "";
  const stderrDone = (async () => {
    const reader = agent.stderr.getReader();
    const decoder = new TextDecoder();
    for (let r = await reader.read(); !r.done; r = await reader.read()) stderr += decoder.decode(r.value, { stream: true });
  })();
  await waitFor("the agent to start", () => {
    if (agent.exitCode !== null) throw new Error(`agent did not start (exit ${agent.exitCode}): ${stderr}`);
    return stderr.includes("capturing on");
  });

  // ~1500 flows per eviction (~500 KB of JSON): the pipe's 64 KiB are full within the first one.
  await using _traffic = manyFlows(a.ns, b.ipv4);
  // The JS thread is free: Status answers, evictions go on, the stdout sink holds what the reader has not taken.
  const after = await afterStalledEvictions(a.ns, api, 3);
  const sink = after.sinks.find((s) => s.name === "json")!;
  expect(sink.queuedRecords).toBeGreaterThan(1000);
  expect(sink.sentRecords).toBeLessThan(400); // what fits in the pipe

  const t0 = performance.now();
  agent.kill("SIGTERM");
  const code = await Promise.race([agent.exited, Bun.sleep(20000).then(() => "timeout" as const)]);
  const exitMs = performance.now() - t0;
  await stderrDone;
  expect(code).toBe(0);
  // Detach + final eviction + the flush timeout. The margin is for a loaded machine; the waits this
  // rules out are longer: the reader's (sleep 300) and the default flush timeout (5 s).
  expect(exitMs).toBeLessThan(flushTimeoutMs + 3000);
  const loss = /stdout: (\d+) records not written within --export-flush-timeout 1000 ms \(the reader is not reading\); (\d+) of (\d+) records written, (\d+) dropped/.exec(stderr);
  expect(loss).not.toBeNull();
  const [notWritten, written, accepted, dropped] = loss!.slice(1).map(Number) as [number, number, number, number];
  expect(written + dropped).toBe(accepted);
  expect(notWritten).toBeGreaterThan(0);
  expect(dropped).toBeGreaterThanOrEqual(notWritten);
  expect(accepted).toBeGreaterThanOrEqual(after.totals.flows);
  console.log(`run | sleep: SIGTERM to exit ${exitMs.toFixed(0)} ms (--export-flush-timeout ${flushTimeoutMs} ms); ${written} of ${accepted} records written, ${dropped} dropped`);
}, 60000);

/**
 * Status once the stdout sink holds more than 1000 records (the pipe is full
 * and its reader stalled) and `evictions` more evictions have been made since.
 */
async function afterStalledEvictions(ns: string, api: string, evictions: number): Promise<AgentStatusReport> {
  const json = (s: AgentStatusReport) => s.sinks.find((x) => x.name === "json")!;
  const stalled = await waitFor("the stdout sink to hold more than 1000 records", async () => {
    const s = await statusIn(ns, api);
    return json(s).queuedRecords > 1000 && s;
  });
  return await waitFor(`${evictions} more evictions with the reader stalled`, async () => {
    const s = await statusIn(ns, api);
    return s.totals.evictions >= stalled.totals.evictions + evictions && s;
  });
}

/** One datagram from each of 1500 UDP ports to `to`:9 every 100 ms, in `ns`, until disposed. */
function manyFlows(ns: string, to: string): AsyncDisposable {
  const script = `
    import dgram from "node:dgram";
    const sockets = [];
    for (let i = 0; i < 1500; i++) {
      const s = dgram.createSocket("udp4");
      await new Promise((r) => s.bind(20000 + i, r));
      sockets.push(s);
    }
    for (;;) {
      for (const s of sockets) s.send(Buffer.alloc(8), 9, "${to}");
      await Bun.sleep(100);
    }`;
  const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, "-e", script], { stdout: "ignore", stderr: "inherit" });
  return { [Symbol.asyncDispose]: async () => void (proc.kill("SIGKILL"), await proc.exited) };
}

kernelTest("run 2>&1 | sleep: log lines wait for no reader either; SIGTERM exits within --export-flush-timeout", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  await using pipe = await FifoPipe.create(["sleep", "300"]);
  const flushTimeoutMs = 1000;
  // The API (in the namespace) only to watch the agent: its stderr is the pipe nobody reads.
  const api = "127.0.0.1:9991";
  // --log-level debug: a log line per eviction, each one a write to the stalled pipe.
  const agent = Bun.spawn(
    ["ip", "netns", "exec", a.ns, process.execPath, cliPath, "run", "--interfaces", a.ifname, "--cache-active-timeout", "200ms", "--export-flush-timeout", `${flushTimeoutMs}ms`, "--api", api, "--log-level", "debug"],
    { stdin: "ignore", stdout: pipe.writeFd, stderr: pipe.writeFd, env: { ...process.env, NO_COLOR: "1" } },
  );
  pipe.closeWriteEnd();
  await using _stopAgent = { [Symbol.asyncDispose]: async () => void (agent.exitCode === null && agent.kill("SIGKILL")) };
  // Started once Status answers (or failed: its exit code tells, its stderr is the pipe nobody reads).
  await waitFor("the agent's API", async () => {
    if (agent.exitCode !== null) throw new Error(`agent exited with ${agent.exitCode}`);
    return (await statusIn(a.ns, api).catch(() => undefined)) !== undefined;
  });
  {
    await using _traffic = manyFlows(a.ns, b.ipv4);
    // The pipe is full and each eviction's log line goes to it: evictions go on all the same.
    await afterStalledEvictions(a.ns, api, 3);
  }
  const t0 = performance.now();
  agent.kill("SIGTERM");
  const code = await Promise.race([agent.exited, Bun.sleep(20000).then(() => "timeout" as const)]);
  const exitMs = performance.now() - t0;
  expect(code).toBe(0);
  // The flush timeout, then 250 ms for the log; the margin as above.
  expect(exitMs).toBeLessThan(flushTimeoutMs + 250 + 3000);
  console.log(`run 2>&1 | sleep: SIGTERM to exit ${exitMs.toFixed(0)} ms (--export-flush-timeout ${flushTimeoutMs} ms)`);
}, 60000);
