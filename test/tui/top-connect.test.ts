/**
 * `top --connect`: the view of a running agent through its Watch API. The
 * agent runs in namespace A with its API on A's loopback, so top runs in A
 * too (as any user could; it loads nothing). Quitting the view leaves the
 * agent running.
 */
import { expect, test } from "bun:test";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";
import { statusIn } from "../helpers/agent-status.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { flowRow, TmuxScreen } from "./tmux-screen.ts";

// The namespace is the test's own: no other listener can hold this port there.
const API = "127.0.0.1:19991";

kernelTest("top --connect shows the agent's flows live and in --once, and leaves the agent running", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  await using agent = await AgentProcess.start(["run", "--cache-active-timeout", "1s", "--interfaces", a.ifname, "--api", API, "--output", "text"], { ns: a.ns });
  const big = await receiveUdp(b, b.ipv4, 5001, 1_000_000, 60_000);
  const small = await receiveUdp(b, b.ipv4, 5002, 1_000_000, 60_000);
  using screen = TmuxScreen.open(160, 40);
  try {
    screen.run(`ip netns exec ${a.ns} ${process.execPath} ${cliPath} top --connect ${API} --sort bytes; echo top-exit=$?`);
    // The interval is the agent's (its Status), known before any batch arrives.
    let s = await screen.waitFor("the header", (s) => s.includes(`· agent ${API}`) && s.includes("interfaces: veth-a") && /every 1s\b/.test(s));
    // The first batch of the stream is not counted: send once the second has come. By the agent's
    // Status: once top's stream is open, the next eviction to end is at the latest top's first batch,
    // and the one after at the latest its second. Then the notice, shown from start() until then, is gone.
    const watching = await waitFor("top's Watch stream", async () => {
      const status = await statusIn(a.ns, API);
      return status.watchers === 1 && status;
    });
    await waitFor("two evictions sent to top", async () => (await statusIn(a.ns, API)).totals.evictions >= watching.totals.evictions + 2);
    const notice = "waiting for the agent's next eviction";
    s = await screen.waitFor("counting", (s) => s.includes(`· agent ${API}`) && !s.includes(notice));

    expect(await sendUdp(a, b.ipv4, 5001, 40001, 200, 1000)).toBe(200);
    expect(await sendUdp(a, b.ipv4, 5002, 40002, 50, 200)).toBe(50);
    s = await screen.waitFor("both flows counted", (s) => flowRow(s, 5001)?.[9] === "200" && flowRow(s, 5002)?.[9] === "50");
    expect(flowRow(s, 5001)!.slice(0, 5).concat(flowRow(s, 5001)![8]!)).toEqual(["veth-a", "out", "UDP", `${a.ipv4}:40001`, `${b.ipv4}:5001`, "208kB"]);
    expect(flowRow(s, 5002)!.slice(0, 5).concat(flowRow(s, 5002)![8]!)).toEqual(["veth-a", "out", "UDP", `${a.ipv4}:40002`, `${b.ipv4}:5002`, "12.1kB"]);
    // Sorted by bytes from the flag: the big flow first.
    const lines = s.split("\n");
    expect(lines.findIndex((l) => l.includes(":5001 "))).toBeLessThan(lines.findIndex((l) => l.includes(":5002 ")));

    screen.keys("/");
    screen.keys("5002", true);
    s = await screen.waitFor("the filter applied", (s) => flowRow(s, 5002) !== undefined && flowRow(s, 5001) === undefined);

    screen.keys("Escape");
    screen.keys("q");
    s = await screen.waitFor("the shell", (s) => /^top-exit=\d+$/m.test(s));
    expect(s).toMatch(/^top-exit=0$/m);

    // The agent is still running and still serving.
    expect(agent.stderr).not.toContain("error");
    const once = Bun.spawn(["ip", "netns", "exec", a.ns, process.execPath, cliPath, "top", "--connect", API, "--once", "--group", "destination"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    // The first batch of the stream is not counted: send once counting has begun, before the agent's
    // next eviction (the one the snapshot shows). That eviction is a timer in the agent's process:
    // stopped (SIGSTOP) it cannot fire, however long the sender takes to start on a loaded machine.
    let stderr = "";
    const reader = once.stderr.getReader();
    while (!stderr.includes("counting until")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`top --once --connect did not start: ${stderr}`);
      stderr += new TextDecoder().decode(value);
    }
    process.kill(agent.pid, "SIGSTOP");
    try {
      expect(await sendUdp(a, b.ipv4, 5001, 40001, 30, 1000)).toBe(30);
    } finally {
      process.kill(agent.pid, "SIGCONT");
    }
    const [out, code] = await Promise.all([new Response(once.stdout).text(), once.exited]);
    for (let r = await reader.read(); !r.done; r = await reader.read()) stderr += new TextDecoder().decode(r.value);
    expect([code, stderr]).toEqual([
      0,
      `netflow-agent: collecting one full interval from agent ${API} (veth-a)\nnetflow-agent: counting until the agent's next eviction\n`,
    ]);
    const row = out.split("\n").find((l) => l.startsWith(b.ipv4))!.trim().split(/\s+/);
    expect(row.slice(0, 3)).toEqual([b.ipv4, "1", "UDP"]);
    expect(row[6]).toBe("31.3kB"); // 30 × 1042
    expect(row[7]).toBe("30");
  } finally {
    big.kill();
    small.kill();
  }
}, 120_000);

test("top --connect to nothing: one line, exit 1", () => {
  const out = Bun.spawnSync([process.execPath, cliPath, "top", "--connect", "127.0.0.1:1", "--once"], { stdout: "pipe", stderr: "pipe" });
  expect(out.exitCode).toBe(1);
  expect(out.stderr.toString()).toMatch(/^netflow-agent: error: cannot reach the agent at 127\.0\.0\.1:1: .+ \(is it running with --api 127\.0\.0\.1:1\?\)\n$/);
});
