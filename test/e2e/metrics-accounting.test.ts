/**
 * End to end, the agent in namespace A on its veth: /readyz answers 503 until
 * the agent is attached and has evicted, then 200; after known UDP traffic
 * both ways, /metrics' per-interface packets and bytes equal what was sent
 * and the self-check gauge reads exactly 1, while /metrics is scraped ~100
 * times a second; promtool accepts the real agent's exposition; Status and
 * the --metrics listener say the same.
 */
import { expect } from "bun:test";
import { AgentProcess } from "../helpers/agent-process.ts";
import { statusIn } from "../helpers/agent-status.ts";
import { HttpPoller, HttpRelay } from "../helpers/http-probe.ts";
import { testNeeding } from "../helpers/kernel-test.ts";
import { metricSamples } from "../helpers/metrics-text.ts";
import { isRoot, VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { promtoolCheck, promtoolPath } from "../metrics/promtool.ts";

const API = "127.0.0.1:9990";
const METRICS = "127.0.0.1:9101";

const e2eTest = testNeeding({ root: isRoot, promtool: promtoolPath !== null });

e2eTest("metrics equal the traffic sent, the self-check reads 1, under 100 scrapes/s; readyz 503 then 200", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();

  // Polled from before the agent starts: unreachable, then 503 until the first eviction (while the agent loads, its
  // JS thread mostly answers nothing: connections wait), then 200.
  await using readiness = new HttpPoller(a.ns, `http://${API}/readyz`, 10);
  await using liveness = new HttpPoller(a.ns, `http://${METRICS}/healthz`, 10);
  await readiness.started();
  await liveness.started();
  await using agent = await AgentProcess.start(["run", "--interfaces", a.ifname, "--cache-active-timeout", "1s", "--api", API, "--metrics", METRICS], { ns: a.ns });
  expect(agent.stderr).toContain(`metrics (/metrics, /healthz, /readyz) on http://${METRICS}\n`);
  await waitFor("/readyz and /healthz to answer 200", () => [readiness, liveness].every((p) => p.changes.some((c) => c.status === 200)), {
    state: () => [readiness.changes, liveness.changes],
  });
  await readiness.stop();
  await liveness.stop();
  expect(readiness.changes.map((c) => c.status).filter((s) => s !== 0)).toEqual([503, 200]);
  expect(readiness.changes[0]!.status).toBe(0);
  expect(liveness.changes[0]!.status).toBe(0);
  // Only changes of status are kept: the first 503 says what held it back then (the load, when a request slips
  // in between its steps, or the first eviction).
  const starting = /^(starting|not ready): (loading and attaching the programs|waiting for the first eviction \(due within 1\.0 s\))\n$/;
  expect(liveness.changes.map((c) => c.status).filter((s) => s !== 0)).toEqual([503, 200]);
  expect(liveness.changes.find((c) => c.status === 503)!.body).toMatch(starting);
  expect(liveness.changes.at(-1)!.body).toBe("ok\n");
  expect(readiness.changes.find((c) => c.status === 503)!.body).toMatch(starting);
  expect(readiness.changes.at(-1)!.body).toMatch(/^ready: 1 interface\(s\) attached, \d+ eviction\(s\)\n$/);

  await using http = new HttpRelay(a.ns);
  expect(await http.get(`http://${API}/healthz`)).toEqual({ status: 200, body: "ok\n" });
  expect(await http.get(`http://${METRICS}/readyz`)).toMatchObject({ status: 200 });

  const metrics = async (base = API) => metricSamples((await http.get(`http://${base}/metrics`)).body);
  const series = (name: string, direction: string) => `${name}{interface="${a.ifname}",direction="${direction}"}`;
  const before = await metrics();
  const at = (m: Map<string, number>, name: string, direction: string) => m.get(series(name, direction)) ?? NaN;

  // ~100 scrapes a second of /metrics on the API listener for the whole exchange.
  await using load = new HttpPoller(a.ns, `http://${API}/metrics`, 10);
  const loadStarted = performance.now();
  const out = { count: 4000, payload: 200 };
  const back = { count: 2000, payload: 900 };
  const rOut = await receiveUdp(b, b.ipv4, 7100, out.count);
  const rBack = await receiveUdp(a, a.ipv4, 7101, back.count);
  expect(await sendUdp(a, b.ipv4, 7100, 41000, out.count, out.payload)).toBe(out.count);
  expect(await sendUdp(b, a.ipv4, 7101, 41001, back.count, back.payload)).toBe(back.count);
  rOut.kill();
  rBack.kill();

  const expected = {
    egress: { packets: out.count, bytes: out.count * udpFrameBytes(out.payload, false) },
    ingress: { packets: back.count, bytes: back.count * udpFrameBytes(back.payload, false) },
  };
  let last: Map<string, number> | undefined;
  const delta = (m: Map<string, number>, name: string, direction: string) => at(m, name, direction) - at(before, name, direction);
  const seen = (m: Map<string, number>) => ({
    egress: { packets: delta(m, "netflow_agent_packets_total", "egress"), bytes: delta(m, "netflow_agent_bytes_total", "egress") },
    ingress: { packets: delta(m, "netflow_agent_packets_total", "ingress"), bytes: delta(m, "netflow_agent_bytes_total", "ingress") },
  });
  // Every packet sent is through the hooks and evicted, and the kernel's counters caught up: then exactly equal.
  await waitFor(
    "the per-interface metrics to reach the traffic sent, and the self-check 1",
    async () => {
      last = await metrics();
      return (
        JSON.stringify(seen(last)) === JSON.stringify(expected) &&
        at(last, "netflow_agent_accounting_ratio", "egress") === 1 &&
        at(last, "netflow_agent_accounting_ratio", "ingress") === 1
      );
    },
    { everyMs: 100, state: () => last && { seen: seen(last), ratio: [at(last, "netflow_agent_accounting_ratio", "egress"), at(last, "netflow_agent_accounting_ratio", "ingress")] } },
  );
  // Another eviction later, still exact: nothing was counted twice.
  const evictions = last!.get("netflow_agent_evictions_total")!;
  await waitFor("two more evictions", async () => ((last = await metrics()).get("netflow_agent_evictions_total") ?? 0) >= evictions + 2);
  expect(seen(last!)).toEqual(expected);
  expect(at(last!, "netflow_agent_accounting_ratio", "egress")).toBe(1);
  expect(at(last!, "netflow_agent_accounting_ratio", "ingress")).toBe(1);
  expect(at(last!, "netflow_agent_accounting_checked_packets_total", "egress")).toBe(at(last!, "netflow_agent_accounting_kernel_packets_total", "egress"));
  expect(last!.get("netflow_agent_unaccounted_packets_total")).toBe(0);

  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const scrapes = await load.stop();
  expect(scrapes.failures).toBe(0);
  // The poller asks every 10 ms; on a loaded 2-core VM it gets fewer through, but far more than a Prometheus would.
  expect(scrapes.requests / loadSeconds).toBeGreaterThan(40);
  console.log(`metrics scraped ${scrapes.requests} times in ${loadSeconds.toFixed(1)} s (${(scrapes.requests / loadSeconds).toFixed(0)}/s)`);

  // Status reports the same per-interface figures and ratio.
  const status = await statusIn(a.ns, API);
  const egress = status.accounting.find((e) => e.name === a.ifname && e.direction === "egress")!;
  expect(egress.packets).toBe(at(last!, "netflow_agent_packets_total", "egress"));
  expect(egress.checkedPackets).toBe(egress.kernelPackets);

  // The real agent's exposition, on both listeners, passes promtool (lint included).
  for (const base of [API, METRICS]) {
    const text = (await http.get(`http://${base}/metrics`)).body;
    expect(text).toContain("netflow_agent_eviction_duration_seconds_bucket{le=\"+Inf\"}");
    expect(await promtoolCheck(text)).toEqual({ code: 0, output: "" });
  }
  expect(await agent.stop()).toBe(0);
}, 120_000);
