/**
 * The swap is exact: an eviction every 100 ms under full-rate traffic for
 * 30 s, and every flow's packets and bytes, added up over all the evictions
 * that cut it, equal what the generator sent to it. Counted at the sender's
 * egress, so what the receiver drops does not matter. What was sent and not
 * accounted is what the agent reports as lost (Status droppedPackets, the
 * "packets not accounted" log line), and here that is nothing.
 */
import { expect } from "bun:test";
import { AgentProcess, sinkLossAtExit } from "../helpers/agent-process.ts";
import { statusIn } from "../helpers/agent-status.ts";
import { FloodTally, FlowFlood, routeFloodDestinations } from "../helpers/flow-flood.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { waitFor } from "../helpers/wait-for.ts";

const API = "127.0.0.1:9990";
const SECONDS = 30;
const FLOWS = 3000;
const SRC_PORT = 40000;
const ACTIVE_TIMEOUT_MS = 100;

/** Packets the agent logged as not accounted, over the whole run. */
function loggedLoss(stderr: string): number {
  return [...stderr.matchAll(/(\d+) packets not accounted/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

kernelTest(`${FLOWS} flows at full rate for ${SECONDS} s, evicted every ${ACTIVE_TIMEOUT_MS} ms: every flow exact, nothing lost`, async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  await routeFloodDestinations(pair);
  await pair.settle(3000);

  const tally = new FloodTally(a.ifname, a.ipv4, SRC_PORT);
  // This process reads the JSON (~270 MB over the run) as fast as a loaded machine lets it: the stdout
  // queue holds all of it and the exit waits for it, so a slow reader costs time, never records.
  await using agent = await AgentProcess.start(
    ["run", "--cache-active-timeout", `${ACTIVE_TIMEOUT_MS}ms`, "--stdout-queue-bytes", "1GiB", "--export-flush-timeout", "10m", "--interfaces", a.ifname, "--api", API],
    { ns: a.ns, onFlow: tally.add },
  );
  await using generator = await FlowFlood.start(a, { flows: FLOWS, seconds: SECONDS, srcPort: SRC_PORT, payload: 18 });
  const report = await generator.report();
  // Two evictions begun after the last packet was sent: the swap is exact, so every packet is out of the kernel's map.
  const sentBy = await statusIn(a.ns, API);
  const status = await waitFor("two evictions after the traffic", async () => {
    const s = await statusIn(a.ns, API);
    return s.totals.evictions >= sentBy.totals.evictions + 2 && s;
  });
  expect(await agent.stop()).toBe(0); // SIGTERM: the final eviction is tallied too

  const result = tally.compare(report);
  const lost = result.sentPackets - result.accountedPackets;
  // The loss the agent reports is the loss there is, and there is none: every flow got exactly what
  // was sent to it, no record went elsewhere, and the JSON sink dropped nothing (else a difference
  // would be the sink's, not the kernel's).
  expect({
    lost,
    reportedLost: status.kernel.droppedPackets,
    loggedLost: loggedLoss(agent.stderr),
    sinkDropped: status.sinks.map((s) => [s.name, s.droppedRecords]),
    sinkLostAtExit: sinkLossAtExit(agent.stderr),
    differ: result.differ,
    differing: result.differing,
    unknown: result.unknownDestinations,
  }).toEqual({ lost: 0, reportedLost: 0, loggedLost: 0, sinkDropped: [["json", 0]], sinkLostAtExit: null, differ: 0, differing: [], unknown: [] });
  expect({ flowsSeen: result.flowsSeen, accountedBytes: result.accountedBytes }).toEqual({ flowsSeen: FLOWS, accountedBytes: result.sentBytes });
  // The traffic really was cut by many swaps: records per flow ≈ evictions it lived through.
  expect(status.totals.evictions).toBeGreaterThanOrEqual((SECONDS * 1000) / ACTIVE_TIMEOUT_MS / 2);
  expect(tally.records).toBeGreaterThan(FLOWS * 10);
  console.error(
    `eviction-exactness: ${report.sent} datagrams in ${report.seconds.toFixed(1)} s (${Math.round(report.pps)} pps), ` +
      `${tally.records} records over ${status.totals.evictions} evictions, lost ${lost}`,
  );
}, 120000);
