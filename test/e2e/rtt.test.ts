/**
 * --enable-rtt end to end, through the delay line (test/helpers/delay-line.ts):
 * iperf3 TCP from A to B over IPv4 and IPv6, 10 ms each way, 3 s at 50 Mbit/s; the agent in A,
 * JSON lines. The data connection's flows (both directions) must carry an
 * RTT, and the last one's latest within 10% of the srtt `ss -ti` printed for
 * the client's socket last before iperf3 ended (sampled while it runs).
 */
import { expect } from "bun:test";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess } from "../helpers/agent-process.ts";
import { DelayLine } from "../helpers/delay-line.ts";
import { kernelDescribe, testNeeding } from "../helpers/kernel-test.ts";
import { isRoot } from "../helpers/netns.ts";
import { waitFor } from "../helpers/wait-for.ts";

const has = (tool: string) => Bun.which(tool, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` }) !== null;
const iperfTest = testNeeding({ root: isRoot, iperf3: has("iperf3") });

/** `rtt:<srtt>/` and the local port of the connection in `ss -tinH` output with the largest bytes_acked. */
function dataConnection(ssOutput: string): { port: number; rttMs: number } | undefined {
  let best: { acked: number; port: number; rttMs: number } | undefined;
  for (const block of ssOutput.split(/\n(?=\S)/)) {
    const rtt = block.match(/\brtt:([\d.]+)\//);
    const local = block.match(/^\S+\s+\d+\s+\d+\s+\S+:(\d+)\s/);
    if (!rtt || !local) continue;
    const acked = Number(block.match(/bytes_acked:(\d+)/)?.[1] ?? 0);
    if (!best || acked > best.acked) best = { acked, port: Number(local[1]), rttMs: Number(rtt[1]) };
  }
  return best && { port: best.port, rttMs: best.rttMs };
}

kernelDescribe("TCP RTT (--enable-rtt) through the delay line", () => {
  for (const family of ["IPv4", "IPv6"] as const)
  iperfTest(`${family}: iperf3 TCP 3 s at 50 Mbit/s across 10 ms each way: the flow's latest RTT within 10% of ss -ti's`, async () => {
    await using line = await DelayLine.create({ oneWayMs: 10 });
    const flows: FlowJson[] = [];
    await using agent = await AgentProcess.start(
      ["run", "--enable-rtt", "--cache-active-timeout", "500ms", "--interfaces", line.a.ifname, "--api", "off"],
      { ns: line.a.ns, onFlow: (flow) => flows.push(flow) },
    );
    const server = family === "IPv4" ? line.b.ipv4 : line.b.ipv6;
    line.spawn(line.b, ["iperf3", "-s", "-1", "-B", server, "-p", "5201"]);
    await line.waitForListener(line.b, 5201);
    const client = line.spawn(line.a, ["iperf3", "-c", server, "-p", "5201", "-t", "3", "-b", "50M", "-J"]);
    let last: { port: number; rttMs: number } | undefined;
    await waitFor(
      "the iperf3 client to finish",
      async () => {
        const ss = await line.exec(line.a, ["ss", "-tinH", "dst", family === "IPv4" ? `${server}:5201` : `[${server}]:5201`]);
        last = dataConnection(ss.stdout.toString()) ?? last;
        return client.exitCode !== null;
      },
      { everyMs: 100 },
    );
    expect(client.exitCode).toBe(0);
    expect(last).toBeDefined();
    const port = last!.port;
    const ofData = (direction: string) =>
      flows.filter((f) => f.interface === line.a.ifname && f.direction === direction && (direction === "egress" ? f.srcPort === port && f.dstPort === 5201 : f.dstPort === port && f.srcPort === 5201));
    // The last eviction with the connection's samples: after iperf3 exits, within an active timeout or two.
    await waitFor("RTT on both directions' flows of the data connection", () => ofData("egress").some((f) => f.rtt) && ofData("ingress").some((f) => f.rtt), {
      state: () => ({ egress: ofData("egress").map((f) => f.rtt), ingress: ofData("ingress").map((f) => f.rtt) }),
    });
    await Bun.sleep(1500); // the final samples (FIN's ACK) are in the next eviction
    const withRtt = ofData("egress").filter((f) => f.rtt);
    const final = withRtt.at(-1)!.rtt!;
    console.log(`ss -ti rtt ${last!.rttMs} ms (port ${port}); agent egress rtt ${withRtt.map((f) => `${f.rtt!.latestMs}[${f.rtt!.minMs}..${f.rtt!.maxMs}]`).join(" ")} ms`);
    expect(Math.abs(final.latestMs - last!.rttMs)).toBeLessThanOrEqual(0.1 * last!.rttMs);
    expect(final.minMs).toBeLessThanOrEqual(final.latestMs);
    expect(final.maxMs).toBeGreaterThanOrEqual(final.latestMs);
    for (const f of [...withRtt, ...ofData("ingress").filter((f) => f.rtt)]) expect(f.rtt!.minMs).toBeGreaterThanOrEqual(20);
    // Not TCP, or not a local socket's connection: none.
    expect(flows.filter((f) => f.protocol !== "TCP" && f.rtt)).toEqual([]);
    expect(await agent.stop()).toBe(0);
  });
});
