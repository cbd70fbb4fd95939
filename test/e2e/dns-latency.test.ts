/**
 * --enable-dns end to end, through the delay line (test/helpers/delay-line.ts):
 * dnsmasq in B, 20 ms away each way; dig in A; the agent in A, JSON lines.
 * Each dig's transaction (matched by dig's own id) must appear on the flow
 * that carried its response, with dig's status as rcode and the name asked.
 *
 * Latency: the agent times TC egress → TC ingress. dig's "Query time" is
 * user space to user space and moves in 4 ms steps here (CONFIG_HZ=250: a
 * 41 ms round trip reads 40 or 44, a late wake-up 48), so it cannot confirm
 * 2 ms: against dig, the agent is never below the round trip nor above dig
 * + a tick, and the median |agent − dig| is within a tick. The 2 ms is
 * checked against a client timing with the precise clock
 * (test/helpers/dns-query.py): the agent never above it, the median within
 * 2 ms; a single query may wait longer for a CPU in user space on the loaded
 * 2-core VM (measured up to 3.5 ms), hence LOADED_SLACK_MS per query, as
 * test/e2e/delay-line.test.ts allows.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess } from "../helpers/agent-process.ts";
import { DelayLine } from "../helpers/delay-line.ts";
import { kernelDescribe, testNeeding } from "../helpers/kernel-test.ts";
import { isRoot } from "../helpers/netns.ts";
import { waitFor } from "../helpers/wait-for.ts";

const has = (tool: string) => Bun.which(tool, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` }) !== null;
const dnsTest = testNeeding({ root: isRoot, dig: has("dig"), dnsmasq: has("dnsmasq") });
const QUERIES_PER_NAME = 5;
const dnsQuery = join(import.meta.dir, "..", "helpers", "dns-query.py");
const TICK_MS = 4;
const LOADED_SLACK_MS = 10;

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[sorted.length >> 1] ?? NaN;
}

kernelDescribe("DNS latency (--enable-dns) through the delay line", () => {
  dnsTest("dig against dnsmasq 20 ms away: latency within 2 ms of a precise client's and a tick of dig's Query time (medians), NXDOMAIN named, names right", async () => {
    const oneWayMs = 20;
    await using line = await DelayLine.create({ oneWayMs });
    line.spawn(line.b, [
      "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=53", `--listen-address=${line.b.ipv4}`, "--bind-interfaces",
      "--no-resolv", "--no-hosts", "--log-facility=-", "--local=/test/", "--address=/known.test/198.18.255.1",
    ]);
    await line.waitForListener(line.b, 53, "udp");
    const flows: FlowJson[] = [];
    await using agent = await AgentProcess.start(
      ["run", "--enable-dns", "--cache-active-timeout", "500ms", "--interfaces", line.a.ifname, "--api", "off"],
      { ns: line.a.ns, onFlow: (flow) => flows.push(flow) },
    );

    const digs: { id: number; name: string; status: string; queryMs: number }[] = [];
    for (let i = 0; i < QUERIES_PER_NAME; i++) {
      for (const name of ["known.test", "nosuch.test"]) {
        const out = await line.exec(line.a, ["dig", `@${line.b.ipv4}`, name, "A", "+tries=1", "+time=3"]);
        const text = out.stdout.toString();
        const header = text.match(/status: (\w+), id: (\d+)/);
        expect(header, text).not.toBeNull();
        digs.push({ id: Number(header![2]), name, status: header![1]!, queryMs: Number(text.match(/Query time: (\d+) msec/)?.[1]) });
      }
    }
    const precise: { id: number; name: string; rcode: number; ms: number }[] = [];
    for (let i = 0; i < QUERIES_PER_NAME; i++) {
      for (const name of ["known.test", "nosuch.test"]) {
        const id = 1000 + precise.length;
        const out = await line.exec(line.a, ["python3", dnsQuery, line.b.ipv4, name, String(id)]);
        precise.push({ name, ...JSON.parse(out.stdout.toString()) });
      }
    }
    const seen = () => flows.filter((f) => f.dns && f.interface === line.a.ifname);
    const ids = [...digs, ...precise].map((d) => d.id);
    await waitFor("a DNS record for every query", () => ids.every((id) => seen().some((f) => f.dns!.id === id)), { state: () => seen().map((f) => f.dns) });
    for (const p of precise) {
      const flow = seen().find((f) => f.dns!.id === p.id)!;
      console.log(`precise ${p.name} id ${p.id}: rcode ${p.rcode}, ${p.ms.toFixed(3)} ms; agent ${flow.dns!.rcode} ${flow.dns!.latencyMs} ms`);
      expect(flow.dns!.name).toBe(p.name);
      expect(flow.dns!.rcode).toBe(p.rcode === 0 ? "NOERROR" : "NXDOMAIN");
      expect(flow.dns!.latencyMs).toBeGreaterThanOrEqual(2 * oneWayMs);
      expect(flow.dns!.latencyMs).toBeLessThanOrEqual(p.ms);
      expect(p.ms - flow.dns!.latencyMs).toBeLessThanOrEqual(LOADED_SLACK_MS);
    }
    const preciseDifferences = precise.map((p) => p.ms - seen().find((f) => f.dns!.id === p.id)!.dns!.latencyMs);
    console.log(`client − agent (precise clock): median ${median(preciseDifferences).toFixed(3)} ms, max ${Math.max(...preciseDifferences).toFixed(3)} ms`);
    expect(median(preciseDifferences)).toBeLessThanOrEqual(2);

    for (const d of digs) {
      const flow = seen().find((f) => f.dns!.id === d.id)!;
      console.log(`dig ${d.name} id ${d.id}: ${d.status}, Query time ${d.queryMs} ms; agent ${flow.dns!.rcode} ${flow.dns!.latencyMs} ms`);
    }
    for (const d of digs) {
      const flow = seen().find((f) => f.dns!.id === d.id)!;
      // The response's flow: ingress at A, from the server's port 53.
      expect({ direction: flow.direction, srcAddr: flow.srcAddr, srcPort: flow.srcPort, dstAddr: flow.dstAddr }).toEqual({
        direction: "ingress", srcAddr: line.b.ipv4, srcPort: 53, dstAddr: line.a.ipv4,
      });
      expect(flow.dns!.name).toBe(d.name);
      expect(flow.dns!.rcode).toBe(d.status);
      expect(flow.dns!.rcode).toBe(d.name === "known.test" ? "NOERROR" : "NXDOMAIN");
      expect(flow.dns!.flags & 0x8000).toBe(0x8000);
      expect(flow.dns!.latencyMs).toBeGreaterThanOrEqual(2 * oneWayMs);
      expect(flow.dns!.latencyMs).toBeLessThanOrEqual(d.queryMs + TICK_MS);
    }
    const differences = digs.map((d) => Math.abs(seen().find((f) => f.dns!.id === d.id)!.dns!.latencyMs - d.queryMs));
    console.log(`|agent − dig|: median ${median(differences).toFixed(3)} ms, max ${Math.max(...differences).toFixed(3)} ms`);
    expect(median(differences)).toBeLessThanOrEqual(TICK_MS);
    // The queries' flows carry none.
    expect(flows.filter((f) => f.direction === "egress" && f.dstPort === 53 && f.dns)).toEqual([]);
    expect(await agent.stop()).toBe(0);
  });

  dnsTest("over TCP (dig +tcp): each transaction on the TCP flow that carried the response, rcode and name right, latency between the round trip and dig's", async () => {
    const oneWayMs = 10;
    await using line = await DelayLine.create({ oneWayMs });
    line.spawn(line.b, [
      "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=53", `--listen-address=${line.b.ipv4}`, "--bind-interfaces",
      "--no-resolv", "--no-hosts", "--log-facility=-", "--local=/test/", "--address=/known.test/198.18.255.1",
    ]);
    await line.waitForListener(line.b, 53, "tcp");
    const flows: FlowJson[] = [];
    await using agent = await AgentProcess.start(
      ["run", "--enable-dns", "--cache-active-timeout", "500ms", "--interfaces", line.a.ifname, "--api", "off"],
      { ns: line.a.ns, onFlow: (flow) => flows.push(flow) },
    );
    const digs: { id: number; name: string; status: string; queryMs: number }[] = [];
    for (let i = 0; i < 3; i++) {
      for (const name of ["known.test", "nosuch.test"]) {
        const text = (await line.exec(line.a, ["dig", "+tcp", `@${line.b.ipv4}`, name, "A", "+tries=1", "+time=3"])).stdout.toString();
        const header = text.match(/status: (\w+), id: (\d+)/);
        expect(header, text).not.toBeNull();
        digs.push({ id: Number(header![2]), name, status: header![1]!, queryMs: Number(text.match(/Query time: (\d+) msec/)?.[1]) });
      }
    }
    const seen = () => flows.filter((f) => f.dns && f.interface === line.a.ifname);
    await waitFor("a DNS record for every TCP query", () => digs.every((d) => seen().some((f) => f.dns!.id === d.id)), { state: () => seen().map((f) => f.dns) });
    for (const d of digs) {
      const flow = seen().find((f) => f.dns!.id === d.id)!;
      console.log(`dig +tcp ${d.name} id ${d.id}: ${d.status}, Query time ${d.queryMs} ms; agent ${flow.dns!.rcode} ${flow.dns!.latencyMs} ms`);
      expect({ protocol: flow.protocol, direction: flow.direction, srcPort: flow.srcPort }).toEqual({ protocol: "TCP", direction: "ingress", srcPort: 53 });
      expect(flow.dns!.name).toBe(d.name);
      expect(flow.dns!.rcode).toBe(d.status);
      expect(flow.dns!.latencyMs).toBeGreaterThanOrEqual(2 * oneWayMs);
      // dig's Query time over TCP starts once connected (query → response, as the agent's), in the same 4 ms steps.
      expect(flow.dns!.latencyMs).toBeLessThanOrEqual(d.queryMs + TICK_MS);
    }
    expect(await agent.stop()).toBe(0);
  });
});
