/**
 * Interoperability with an independent gRPC implementation: @grpc/grpc-js
 * with @grpc/proto-loader reading proto/ directly (no generated code of ours)
 * as a client of `collect` (Export, unary) and of the agent's API (Watch,
 * server streaming; Status).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { join } from "node:path";
import { createAgentApi } from "../../src/api/agent-service.ts";
import { flowToJson } from "../../src/flow/flow-format.ts";
import { AgentService } from "../../src/gen/netflow/v1/agent_pb.ts";
import { startConnectServer, type ConnectServer } from "../../src/net/connect-server.ts";
import { batchOf, udpFlow } from "../api/flow-fixtures.ts";
import { PublishedFlows, until } from "../api/flow-source.ts";
import { AgentProcess, repoRoot } from "../helpers/agent-process.ts";

const definition = protoLoader.loadSync(["netflow/v1/collector.proto", "netflow/v1/agent.proto"], {
  includeDirs: [join(repoRoot, "proto")],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
const loaded = grpc.loadPackageDefinition(definition) as any;
const { CollectorService: CollectorClient, AgentService: AgentClient } = loaded.netflow.v1;

function call<T>(client: any, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => client[method](request, (error: grpc.ServiceError | null, response: T) => (error ? reject(error) : resolve(response))));
}

/** A Flow as grpc-js sends it: plain object, bytes as Buffers, uint64 as strings. */
const flowObject = {
  interface: "veth-a",
  ifindex: 7,
  direction: "DIRECTION_EGRESS",
  eth_type: 0x0800,
  src_mac: Buffer.from([2, 0, 0, 0, 0, 0x0a]),
  dst_mac: Buffer.from([2, 0, 0, 0, 0, 0x0b]),
  src_addr: Buffer.from([198, 18, 0, 1]),
  dst_addr: Buffer.from([198, 18, 0, 2]),
  src_port: 40000,
  dst_port: 5000,
  protocol: 17,
  packets: "10",
  bytes: "1420",
  start: { seconds: "1764000000", nanos: 250_000_000 },
  end: { seconds: "1764000001", nanos: 750_000_000 },
  tcp_flags: 0,
  dscp: 46,
  icmp_type: 0,
  icmp_code: 0,
  flags: 0,
  // Not sent (no attribution, unsampled): proto-loader with defaults shows an absent message as null, a number as 0.
  owner: null,
  sampling: 0,
};

describe("grpc-js → collect (Export)", () => {
  test("batches printed as run prints them, duplicates acknowledged and dropped, exact totals", async () => {
    await using collect = await AgentProcess.start(["collect", "--listen", "127.0.0.1:0"], { readyText: "collecting on" });
    const port = /127\.0\.0\.1:(\d+)/.exec(collect.stderr)![1];
    const client = new CollectorClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const agent = { agent_id: "grpc-js-agent", hostname: "elsewhere", agent_version: "9.9.9" };
    const batch = { flows: [flowObject, { ...flowObject, src_port: 40001, packets: "5", bytes: "700" }] };
    expect(await call(client, "Export", { agent, sequence: "1", batch })).toEqual({ duplicate: false });
    expect(await call(client, "Export", { agent, sequence: "1", batch })).toEqual({ duplicate: true });
    expect(await call(client, "Export", { agent, sequence: "2", batch: { flows: [flowObject] } })).toEqual({ duplicate: false });
    const bad = { flows: [{ ...flowObject, src_addr: Buffer.alloc(5) }] };
    const refused = (await call(client, "Export", { agent, sequence: "3", batch: bad }).catch((e) => e)) as grpc.ServiceError;
    expect([refused.code, decodeURIComponent(refused.details)]).toEqual([grpc.status.INVALID_ARGUMENT, "batch: flow 0: src_addr has 5 bytes, expected 4 (IPv4), 16 (IPv6) or 0 (not IP)"]);
    client.close();
    expect(await collect.stop()).toBe(0);
    const expected = [udpFlow(), udpFlow({ srcPort: 40001, packets: 5, bytes: 700 }), udpFlow()].map((r) => JSON.parse(JSON.stringify(flowToJson(r))));
    expect(collect.flows).toEqual(expected);
    expect(collect.stderr).toContain(
      "netflow-agent: totals: agent grpc-js-agent (elsewhere, 9.9.9): 2 batches, 3 flows, 25 packets, 3540 bytes, 1 duplicate batches dropped\n",
    );
  });
});

describe("grpc-js → AgentService", () => {
  const source = new PublishedFlows();
  const identity = { hostname: "node-a", agentId: "id-1", agentVersion: "0.1.0" };
  let server: ConnectServer;
  let client: any;
  beforeAll(async () => {
    const api = createAgentApi(source, identity);
    server = await startConnectServer({ listen: { host: "127.0.0.1", port: 0 }, routes: (r) => r.service(AgentService, api.implementation) });
    client = new AgentClient(`127.0.0.1:${server.address.port}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  test("Watch: a server stream of filtered batches, read by grpc-js", async () => {
    const stream = client.Watch({ filter: { ports: [5000], protocols: ["udp"] } });
    const responses: any[] = [];
    stream.on("data", (r: any) => responses.push(r));
    const ended = new Promise((resolve) => stream.on("error", resolve));
    await until(() => source.subscribers === 1);
    source.publish(batchOf([udpFlow(), udpFlow({ dstPort: 53 })]));
    source.publish(batchOf([]));
    await until(() => responses.length === 2);
    stream.cancel();
    expect(((await ended) as grpc.ServiceError).code).toBe(grpc.status.CANCELLED);
    // Every field the flow has, exactly; fields added since (unset here) may follow as their defaults.
    expect(responses[0].batch.flows).toMatchObject([flowObject]);
    expect(responses[0].batch.evicted_at).toEqual({ seconds: "1764000002", nanos: 0 });
    expect(responses[0].batch.eviction_duration).toEqual({ seconds: "0", nanos: 1_250_000 });
    expect(responses[0].batch.kernel).toEqual({ ringbuf_packets: "3", dropped_packets: "0", dropped_bytes: "0", map_errors: "1", truncated: "2" });
    expect(responses.map((r) => [r.batch.flows.length, r.dropped_batches])).toEqual([[1, "0"], [0, "0"]]);
    await until(() => source.subscribers === 0);
  });

  test("Watch with a bad filter: INVALID_ARGUMENT naming the value", async () => {
    const stream = client.Watch({ filter: { cidrs: ["10.0.0.0/40"] } });
    stream.on("data", () => {});
    const error = (await new Promise((resolve) => stream.on("error", resolve))) as grpc.ServiceError;
    // connect-es percent-encodes grpc-message with encodeURIComponent, grpc-js decodes it with decodeURI,
    // which leaves "/", ":" and "," encoded: the text arrives intact once fully decoded.
    expect([error.code, decodeURIComponent(error.details)]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      'filter.cidrs "10.0.0.0/40" must be an IPv4 or IPv6 address or CIDR (examples: 10.0.0.0/8, fd00::/8, 192.0.2.7)',
    ]);
  });

  test("Status", async () => {
    const status: any = await call(client, "Status", {});
    expect(status.agent).toEqual({ hostname: "node-a", agent_id: "id-1", agent_version: "0.1.0" });
    expect(status.interfaces).toEqual([
      { name: "veth-a", ifindex: 7, kind: "ATTACH_KIND_TCX" },
      { name: "eth0", ifindex: 2, kind: "ATTACH_KIND_TC" },
    ]);
    expect(status.totals).toEqual({ evictions: "3", flows: "40", packets: "1000", bytes: "1099511627776" });
    expect(status.last_eviction).toEqual({ at: { seconds: "1764000005", nanos: 0 }, flows: "12", duration: { seconds: "0", nanos: 750_000 } });
    expect([status.max_flows, status.watchers]).toEqual([32768, 0]);
  });
});
