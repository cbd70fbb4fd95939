/**
 * --sampling end to end on a veth pair: 1M datagrams over 10 flows from the
 * flood generator (bench/flow-flood.c, exact per-flow counts), the agent at
 * --sampling 100. Every record says sampling 100 and counts raw (sampled)
 * packets; N × those estimates what was sent within 3σ of Binomial(sent,
 * 1/N) × N, per run and for the biggest flow; Status reports the rate, and
 * its self-check (scaled) lands near 100%. The unsampled runs stay exact
 * (eviction-exactness.test.ts, veth-flows.test.ts).
 */
import { expect } from "bun:test";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess } from "../helpers/agent-process.ts";
import { statusIn } from "../helpers/agent-status.ts";
import { floodDestination, floodPackets, FlowFlood, routeFloodDestinations } from "../helpers/flow-flood.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { udpFrameBytes } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";

const API = "127.0.0.1:9990";
const RATE = 100;
const DATAGRAMS = 1_000_000;
const FLOWS = 10;
const SRC_PORT = 40100;

/** 3σ of N × Binomial(n, 1/N): the bound on |estimate − n|. */
const threeSigma = (n: number, rate: number) => 3 * rate * Math.sqrt((n / rate) * (1 - 1 / rate));

kernelTest(`--sampling ${RATE}: ${DATAGRAMS} datagrams, the scaled counts within 3σ of what was sent`, async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  await routeFloodDestinations(pair);
  await pair.settle(3000);

  const byDestination = new Map<string, { packets: number; bytes: number }>();
  const rates = new Set<number | undefined>();
  const onFlow = (flow: FlowJson) => {
    if (flow.interface !== a.ifname || flow.direction !== "egress" || flow.srcPort !== SRC_PORT) return;
    rates.add(flow.sampling);
    const key = `${flow.dstAddr}:${flow.dstPort}`;
    const t = byDestination.get(key) ?? { packets: 0, bytes: 0 };
    t.packets += flow.packets;
    t.bytes += flow.bytes;
    byDestination.set(key, t);
  };
  await using agent = await AgentProcess.start(["run", "--sampling", String(RATE), "--cache-active-timeout", "500ms", "--interfaces", a.ifname, "--api", API], { ns: a.ns, onFlow });
  const started = Date.now();
  await using generator = await FlowFlood.start(a, { flows: FLOWS, count: DATAGRAMS, srcPort: SRC_PORT, payload: 18 });
  const report = await generator.report();
  const sentAt = await statusIn(a.ns, API);
  const status = await waitFor("two evictions after the traffic", async () => {
    const s = await statusIn(a.ns, API);
    return s.totals.evictions >= sentAt.totals.evictions + 2 && s;
  });
  expect(await agent.stop()).toBe(0);

  const frame = udpFrameBytes(report.payload, false);
  let sampled = 0;
  for (const t of byDestination.values()) {
    sampled += t.packets;
    expect(t.bytes).toBe(t.packets * frame); // raw: every counted packet whole
  }
  const flow0 = byDestination.get(`${floodDestination(report, 0).addr}:${floodDestination(report, 0).port}`)?.packets ?? 0;
  const estimate = sampled * RATE;
  const egress = status.accounting.find((e) => e.name === a.ifname && e.direction === "egress")!;
  console.error(
    `sampling e2e: sent ${report.sent} in ${report.seconds.toFixed(1)} s (${Math.round(report.pps)} pps), ${sampled} sampled, ` +
      `estimate ${estimate} (${(((estimate - report.sent) / report.sent) * 100).toFixed(2)}%, 3σ ${Math.round(threeSigma(report.sent, RATE))}), ` +
      `self-check ${egress.checkedPackets}/${egress.kernelPackets}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  expect(report.sent).toBe(DATAGRAMS);
  expect([...rates]).toEqual([RATE]);
  expect(status.sampling).toBe(RATE);
  expect(Math.abs(estimate - report.sent)).toBeLessThanOrEqual(threeSigma(report.sent, RATE));
  expect(Math.abs(flow0 * RATE - floodPackets(report, 0))).toBeLessThanOrEqual(threeSigma(floodPackets(report, 0), RATE));
  // The self-check scales sampled flows too: an estimate, near 100% (its σ here is ~1%).
  if (egress.kernelPackets > 100_000) expect(Math.abs(egress.checkedPackets / egress.kernelPackets - 1)).toBeLessThan(0.1);
}, 180000);
