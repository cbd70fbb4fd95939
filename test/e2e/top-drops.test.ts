/**
 * A local `top --once --enable-drops` on a veth pair: UDP to a port with no
 * socket in namespace B, dropped there (NO_SOCKET) after TC counted it at
 * B's ingress; the snapshot's DROPS column shows exactly the kernel's own
 * count (`nstat` UdpNoPorts). top runs in B: the drop tracer counts only its
 * own namespace's drops.
 */
import { $ } from "bun";
import { expect } from "bun:test";
import { cliPath } from "../helpers/agent-process.ts";
import { testNeeding } from "../helpers/kernel-test.ts";
import { isRoot, VethPair, type Host } from "../helpers/netns.ts";

const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
const dropTest = testNeeding({ root: isRoot, nstat: Bun.which("nstat", { PATH }) !== null, btf: await Bun.file("/sys/kernel/btf/vmlinux").exists() });

/** A counter of `nstat -az` in `host`'s namespace (absolute, not since the last call). */
async function nstat(host: Host, name: string): Promise<number> {
  const out = await $`ip netns exec ${host.ns} nstat -az --json`.env({ ...process.env, PATH }).text();
  const counters = JSON.parse(out).kernel as Record<string, number>;
  return counters[name] ?? 0;
}

/**
 * `count` datagrams of `size` bytes from `srcPort` (Python: a socket that
 * never connect()s, so the ICMP errors the closed port sends back fail no
 * send, as they do Bun's dgram); returns how many were sent.
 */
async function sendUdp(host: Host, to: string, port: number, srcPort: number, count: number, size: number): Promise<number> {
  const script = `
import socket, sys
to, port, src, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", src))
print(sum(s.sendto(b"a" * size, (to, port)) == size for _ in range(count)))
`;
  return Number(await $`ip netns exec ${host.ns} /usr/bin/python3 -c ${script} ${to} ${port} ${srcPort} ${count} ${size}`.text());
}

dropTest("top --once --enable-drops: the DROPS column shows the packets the kernel dropped, exactly", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  const top = Bun.spawn(["ip", "netns", "exec", b.ns, process.execPath, cliPath, "top", "--once", "--enable-drops", "--interval", "2s", "--interfaces", b.ifname, "--filter", "udp"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  try {
    const reader = top.stderr.getReader();
    let stderr = "";
    while (!stderr.includes("collecting for")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`top --once did not start: ${stderr}`);
      stderr += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    expect(stderr).toBe(`netflow-agent: collecting for 2000 ms from local (${b.ifname})\n`);
    const noPortsBefore = await nstat(b, "UdpNoPorts");
    // Stopped, top's interval cannot end: every packet is counted and dropped (in the kernel) inside it.
    process.kill(top.pid, "SIGSTOP");
    try {
      expect(await sendUdp(a, b.ipv4, 7002, 40102, 137, 200)).toBe(137);
    } finally {
      process.kill(top.pid, "SIGCONT");
    }
    const noSocket = (await nstat(b, "UdpNoPorts")) - noPortsBefore;
    const [out, code] = await Promise.all([new Response(top.stdout).text(), top.exited]);
    expect(code).toBe(0);
    expect(noSocket).toBe(137);
    const lines = out.split("\n");
    const header = lines.findIndex((l) => l.startsWith("IFACE"));
    const titles = lines[header]!.split(/\s+/).map((t) => t.replace(/[▼▲]$/, ""));
    expect(titles).toContain("DROPS");
    const rows = lines.slice(header + 1).filter((l) => l.length > 0).map((l) => l.split(/\s+/));
    const column = (row: string[], title: string) => row[titles.indexOf(title)];
    const flow = rows.filter((r) => column(r, "DESTINATION") === `${b.ipv4}:7002`);
    expect(flow.map((r) => [column(r, "IFACE"), column(r, "DIR"), column(r, "PROTO"), column(r, "SOURCE"), column(r, "PKTS"), column(r, "DROPS")])).toEqual([
      [b.ifname, "in", "UDP", `${a.ipv4}:40102`, "137", String(noSocket)],
    ]);
  } finally {
    top.kill();
  }
}, 60_000);
