/**
 * `top --once` (batch mode): one interval collected inside namespace A, one
 * snapshot printed as plain text from the same model as the live view.
 */
import { expect, test } from "bun:test";
import { cliPath } from "../helpers/agent-process.ts";
import { isRoot, VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp } from "../helpers/traffic.ts";

test.if(isRoot)("top --once prints the interval's flows, sorted by bytes, and exits 0", async () => {
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
    // The agent logs once attached; the interval (3 s) leaves ample time for the traffic.
    const reader = top.stderr.getReader();
    let stderr = "";
    while (!stderr.includes("collecting for")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`top --once did not start: ${stderr}`);
      stderr += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    expect(stderr).toBe("netflow-agent: collecting for 3000 ms from local (veth-a)\n");
    expect(await sendUdp(a, b.ipv4, 5002, 40002, 40, 200)).toBe(40);
    expect(await sendUdp(a, b.ipv4, 5001, 40001, 20, 1000)).toBe(20);
    const [out, code] = await Promise.all([new Response(top.stdout).text(), top.exited]);
    expect(code).toBe(0);
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^netflow-agent top · \S+ · local +\d\d:\d\d:\d\d$/);
    expect(lines[1]).toBe("interfaces: veth-a");
    expect(lines[3]).toBe("by flow · sort bytes · no filter · bytes · names off");
    expect(lines[4]).toBe("");
    expect(lines[5]).toMatch(/^IFACE +DIR PROTO +SOURCE +DESTINATION +2s +10s +40s +TOTAL▼ +PKTS FLAGS$/);
    const rows = lines.slice(6).filter((l) => l.length > 0).map((l) => l.split(/\s+/));
    // 20 × 1042 B = 20 840 B before 40 × 242 B = 9 680 B. The 2 s window is a full 2 s (3 s were observed);
    // 10 s and 40 s are shortened to the time observed, a little over 3 s, so they are equal to each other.
    expect(rows.map((r) => r.slice(0, 6).concat(r.slice(8, 10)))).toEqual([
      ["veth-a", "out", "UDP", `${a.ipv4}:40001`, `${b.ipv4}:5001`, "10.4kB/s", "20.8kB", "20"],
      ["veth-a", "out", "UDP", `${a.ipv4}:40002`, `${b.ipv4}:5002`, "4.8kB/s", "9.7kB", "40"],
    ]);
    for (const r of rows) expect(r[6]).toBe(r[7]!);
    expect(rows.map((r) => r[6])).toEqual([expect.stringMatching(/^(6\.[6-9])kB\/s$/), expect.stringMatching(/^3\.[0-2]kB\/s$/)]);
    // Bars scaled to the largest total: full for the first, 9 680 / 20 840 of it for the second.
    expect(rows[0]![10]).toBe("█".repeat(30));
    expect(rows[1]![10]).toBe("█".repeat(13) + "▉");
  } finally {
    top.kill();
    big.kill();
    small.kill();
  }
}, 30_000);

test.if(isRoot)("top --once interrupted: detaches, prints no snapshot, exits 130", async () => {
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
