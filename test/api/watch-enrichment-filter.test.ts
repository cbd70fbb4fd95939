/**
 * The Watch client's enrichment filters (FlowFilter 9-13: min_dns_latency,
 * min_rtt, dropped, drop_reasons, dns_rcodes) against a real Connect server
 * (127.0.0.1, ephemeral port): the fields reach the agent, thresholds exactly
 * to the ns (a Duration's seconds and nanos both), and it sends only the
 * flows that match.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { createAgentApi, type AgentApi } from "../../src/api/agent-service.ts";
import { watchFlows, type FlowFilterSpec, type WatchedBatch } from "../../src/api/watch-client.ts";
import { AgentService } from "../../src/gen/netflow/v1/agent_pb.ts";
import { startConnectServer, type ConnectServer } from "../../src/net/connect-server.ts";
import { batchOf, udpFlow } from "./flow-fixtures.ts";
import { PublishedFlows, until } from "./flow-source.ts";

const identity = { hostname: "node-a", agentId: "3f1c0b8e-0000-4000-8000-000000000002", agentVersion: "0.1.0" };
let server: ConnectServer | undefined;

async function serve(source: PublishedFlows): Promise<{ api: AgentApi; target: string }> {
  const api = createAgentApi(source, identity);
  server = await startConnectServer({ listen: { host: "127.0.0.1", port: 0 }, routes: (r) => r.service(AgentService, api.implementation) });
  return { api, target: `127.0.0.1:${server.address.port}` };
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const ms = 1e6;
// Latencies past 1 s: a threshold sent as a Duration must carry its seconds and its nanos.
const nxdomain = udpFlow({ srcPort: 53, dstPort: 40001, dns: { id: 1, flags: 0x8183, latencyNs: 2e9 + 40 * ms + 7, name: "nosuch.test" } });
const noerror = udpFlow({ srcPort: 53, dstPort: 40002, dns: { id: 2, flags: 0x8180, latencyNs: 2 * ms, name: "a.test" } });
const slow = udpFlow({ protocol: 6, srcPort: 40003, rtt: { latestNs: 20 * ms, minNs: 10 * ms, maxNs: 1e9 + 150 * ms } });
const fastDropped = udpFlow({
  protocol: 6, srcPort: 40004,
  rtt: { latestNs: 1 * ms, minNs: 1 * ms, maxNs: 1 * ms },
  drops: { packets: 2, bytes: 120, reason: "TCP_INVALID_SEQUENCE", reasonCode: 40, tcpState: 1, tcpFlags: 0x10 },
});
const dropOnly = udpFlow({ protocol: 6, srcPort: 40005, packets: 0, bytes: 0, drops: { packets: 5, bytes: 300, reason: "NETFILTER_DROP", reasonCode: 6, tcpState: 2, tcpFlags: 0x02 } });
const plain = udpFlow({ srcPort: 40006 });
const all = [nxdomain, noerror, slow, fastDropped, dropOnly, plain];

/** One batch of `all` published to a Watch with `filter`: the flows it received. */
async function watched(filter: FlowFilterSpec) {
  const source = new PublishedFlows();
  const { api, target } = await serve(source);
  const abort = new AbortController();
  const received: WatchedBatch[] = [];
  const done = (async () => {
    for await (const batch of watchFlows(target, filter, abort.signal)) received.push(batch);
  })();
  await until(() => api.watchers === 1, 3000, "the stream to open");
  source.publish(batchOf(all));
  await until(() => received.length === 1, 3000, "the batch");
  abort.abort();
  await done;
  return received[0]!.flows.records();
}

describe("Watch with enrichment filters: only the matching flows", () => {
  const cases: [string, FlowFilterSpec, (typeof all)[number][]][] = [
    ["no filter: every flow", {}, all],
    ["min DNS latency, exactly the slower one's (seconds and nanos)", { minDnsLatencyNs: 2e9 + 40 * ms + 7 }, [nxdomain]],
    ["min DNS latency, 1 ns above it: none", { minDnsLatencyNs: 2e9 + 40 * ms + 8 }, []],
    ["min DNS latency 0: every flow with DNS", { minDnsLatencyNs: 0 }, [nxdomain, noerror]],
    ["a fractional threshold is rounded up to whole ns", { minDnsLatencyNs: 2 * ms - 0.5 }, [nxdomain, noerror]],
    ["DNS response codes, any case", { dnsRcodes: ["nxdomain"] }, [nxdomain]],
    ["DNS response codes by number", { dnsRcodes: ["RCODE0"] }, [noerror]],
    ["min RTT, exactly the slow one's maximum", { minRttNs: 1e9 + 150 * ms }, [slow]],
    ["min RTT, 1 ns above it: none", { minRttNs: 1e9 + 150 * ms + 1 }, []],
    ["min RTT 1 ms", { minRttNs: 1 * ms }, [slow, fastDropped]],
    ["dropped", { dropped: true }, [fastDropped, dropOnly]],
    ["dropped: false filters nothing", { dropped: false }, all],
    ["drop reasons, any case", { dropReasons: ["netfilter_drop"] }, [dropOnly]],
    ["with the other lists, AND", { dropped: true, minRttNs: 1 * ms, protocols: ["tcp"] }, [fastDropped]],
    ["DNS code and port", { dnsRcodes: ["NOERROR", "NXDOMAIN"], ports: [40002] }, [noerror]],
  ];
  for (const [name, filter, expected] of cases)
    test(name, async () => {
      expect(await watched(filter)).toEqual(expected);
    });
});

describe("bad enrichment filters: INVALID_ARGUMENT naming the value", () => {
  const cases: [FlowFilterSpec, string][] = [
    // Refused by the agent.
    [{ dnsRcodes: ["NOSUCH"] }, 'filter.dns_rcodes "NOSUCH" must be a DNS response code name (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE, any case) or RCODE0-RCODE15'],
    [{ dropReasons: ["netfilter drop"] }, 'filter.drop_reasons "netfilter drop" must be a drop reason as the kernel names it (letters, digits and "_", example: NETFILTER_DROP)'],
    // No Duration holds these: refused by the client, with the agent's message.
    [{ minRttNs: -1 }, "filter.min_rtt -1 ns must be >= 0"],
    [{ minDnsLatencyNs: Number.NaN }, "filter.min_dns_latency NaN ns must be >= 0"],
  ];
  for (const [filter, message] of cases)
    test(JSON.stringify(filter, (_, v) => (Number.isNaN(v) ? "NaN" : v)), async () => {
      const { target } = await serve(new PublishedFlows());
      const error = await (async () => {
        for await (const _ of watchFlows(target, filter)) return undefined;
      })().then(() => undefined, (e) => ConnectError.from(e));
      expect({ code: error?.code, message: error?.rawMessage }).toEqual({ code: Code.InvalidArgument, message });
    });
});
