/**
 * `top --once` (batch mode): one interval collected inside namespace A, one
 * snapshot printed as plain text from the same model as the live view.
 */
import { expect } from "bun:test";
import { cliPath } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp } from "../helpers/traffic.ts";

/** The seconds of observation that show `bytes` as `rate` ("6.7kB/s", rounded at its last digit): a range. */
function observedSeconds(bytes: number, rate: string): { low: number; high: number } {
  const shown = /^(\d+(?:\.(\d))?)kB\/s$/.exec(rate);
  if (!shown) throw new Error(`not a kB/s rate: ${rate}`);
  const bytesPerSecond = Number(shown[1]) * 1000;
  const halfStep = (shown[2] === undefined ? 1000 : 100) / 2;
  return { low: bytes / (bytesPerSecond + halfStep), high: bytes / (bytesPerSecond - halfStep) };
}

kernelTest("top --once prints the interval's flows, sorted by bytes, and exits 0", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  const big = await receiveUdp(b, b.ipv4, 5001, 1_000_000, 30_000);
  const small = await receiveUdp(b, b.ipv4, 5002, 1_000_000, 30_000);
  const top = Bun.spawn(["ip", "netns", "exec", a.ns, process.execPath, cliPath, "top", "--once", "--interval", "3s", "--sort", "bytes", "--interfaces", a.ifname], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  try {
    // Collecting once attached. Its interval is a timer in top's process: stopped (SIGSTOP) it cannot
    // fire, so however long the senders take on a loaded machine, the traffic (counted in the kernel
    // meanwhile) is inside the one interval top collects.
    const reader = top.stderr.getReader();
    let stderr = "";
    while (!stderr.includes("collecting for")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`top --once did not start: ${stderr}`);
      stderr += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    expect(stderr).toBe("netflow-agent: collecting for 3000 ms from local (veth-a)\n");
    process.kill(top.pid, "SIGSTOP");
    try {
      expect(await sendUdp(a, b.ipv4, 5002, 40002, 40, 200)).toBe(40);
      expect(await sendUdp(a, b.ipv4, 5001, 40001, 20, 1000)).toBe(20);
    } finally {
      process.kill(top.pid, "SIGCONT");
    }
    const [out, code] = await Promise.all([new Response(top.stdout).text(), top.exited]);
    expect(code).toBe(0);
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^netflow-agent top · \S+ · local +\d\d:\d\d:\d\d$/);
    expect(lines[1]).toBe("interfaces: veth-a");
    expect(lines[3]).toBe("by flow · sort bytes · no filter · bytes · names off");
    expect(lines[4]).toBe("");
    expect(lines[5]).toMatch(/^IFACE +DIR PROTO +SOURCE +DESTINATION +2s +10s +40s +TOTAL▼ +PKTS FLAGS$/);
    const rows = lines.slice(6).filter((l) => l.length > 0).map((l) => l.split(/\s+/));
    // 20 × 1042 B = 20 840 B before 40 × 242 B = 9 680 B. The 2 s window is a full 2 s (at least 3 s
    // were observed). 10 s and 40 s are shortened to the time observed: over 3 s by however long top
    // was stopped, the same for both rows (and under 10 s, so the two windows are equal).
    expect(rows.map((r) => r.slice(0, 6).concat(r.slice(8, 10)))).toEqual([
      ["veth-a", "out", "UDP", `${a.ipv4}:40001`, `${b.ipv4}:5001`, "10.4kB/s", "20.8kB", "20"],
      ["veth-a", "out", "UDP", `${a.ipv4}:40002`, `${b.ipv4}:5002`, "4.8kB/s", "9.7kB", "40"],
    ]);
    for (const r of rows) expect(r[6]).toBe(r[7]!);
    const observed = [observedSeconds(20_840, rows[0]![6]!), observedSeconds(9_680, rows[1]![6]!)];
    expect({
      atLeastTheInterval: observed.map((o) => o.high >= 3),
      sameForBoth: observed[0]!.low <= observed[1]!.high && observed[1]!.low <= observed[0]!.high,
    }).toEqual({ atLeastTheInterval: [true, true], sameForBoth: true });
    // Bars scaled to the largest total: full for the first, 9 680 / 20 840 of it for the second.
    expect(rows[0]![10]).toBe("█".repeat(30));
    expect(rows[1]![10]).toBe("█".repeat(13) + "▉");
  } finally {
    top.kill();
    big.kill();
    small.kill();
  }
}, 30_000);

kernelTest("top --once interrupted: detaches, prints no snapshot, exits 130", async () => {
  await using pair = await VethPair.create();
  const top = Bun.spawn(["ip", "netns", "exec", pair.a.ns, process.execPath, cliPath, "top", "--once", "--interval", "60s", "--attach-mode", "tc"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = top.stderr.getReader();
  let stderr = "";
  while (!stderr.includes("collecting for")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`top --once did not start: ${stderr}`);
    stderr += new TextDecoder().decode(value);
  }
  // tc mode: the filters are netlink objects that outlive the process unless removed.
  const filters = () => Bun.spawnSync(["tc", "-n", pair.a.ns, "filter", "show", "dev", pair.a.ifname, "egress"]).stdout.toString();
  expect(filters()).toContain("bpf");
  top.kill("SIGINT");
  const [out, code] = await Promise.all([new Response(top.stdout).text(), top.exited]);
  expect([code, out]).toEqual([130, ""]);
  expect(filters()).toBe("");
}, 30_000);
