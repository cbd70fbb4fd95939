/**
 * `netflow-agent collect` as a child process, fed by a real Connect gRPC client
 * (the agent's exporter comes from part B): exact flows on stdout, duplicates
 * dropped, exact per-agent totals on stderr at SIGTERM.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBatchMessage } from "../../src/api/flow-message.ts";
import { flowToJson } from "../../src/flow/flow-format.ts";
import { CollectorService } from "../../src/gen/netflow/v1/collector_pb.ts";
import { AgentIdentitySchema } from "../../src/gen/netflow/v1/flow_pb.ts";
import { createClientTransport } from "../../src/net/transport.ts";
import { batchOf, ipv6, udpFlow } from "../api/flow-fixtures.ts";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";

const agentA = create(AgentIdentitySchema, { agentId: "agent-a", hostname: "node-a", agentVersion: "0.1.0" });
const agentB = create(AgentIdentitySchema, { agentId: "agent-b", hostname: "node-b", agentVersion: "0.1.0" });
const flow1 = udpFlow();
const flow2 = udpFlow({ srcPort: 40001, packets: 3, bytes: 300 });
const flow3 = udpFlow({ ethType: 0x86dd, protocol: 6, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), dstAddr: ipv6("fd00:0:0:0:0:0:0:2"), packets: 7, bytes: 7000, tcpFlags: 0x18 });

async function startCollect(extra: string[] = []) {
  const proc = await AgentProcess.start(["collect", "--listen", "127.0.0.1:0", ...extra], { readyText: "collecting on" });
  const url = /collecting on (\S+)/.exec(proc.stderr)![1]!;
  return { proc, client: createClient(CollectorService, createClientTransport(url)) };
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test("flows as JSON lines, duplicates dropped, exact totals per agent at SIGTERM", async () => {
  const { proc, client } = await startCollect();
  await using _ = proc;
  expect(await client.export({ agent: agentA, sequence: 1n, batch: toBatchMessage(batchOf([flow1, flow2])) })).toMatchObject({ duplicate: false });
  expect(await client.export({ agent: agentB, sequence: 1n, batch: toBatchMessage(batchOf([flow3])) })).toMatchObject({ duplicate: false });
  // A retry of a batch already received: acknowledged, not printed again.
  expect(await client.export({ agent: agentA, sequence: 1n, batch: toBatchMessage(batchOf([flow1, flow2])) })).toMatchObject({ duplicate: true });
  expect(await client.export({ agent: agentA, sequence: 2n, batch: toBatchMessage(batchOf([flow3])) })).toMatchObject({ duplicate: false });
  expect(await proc.stop()).toBe(0);
  expect(proc.flows).toEqual([flow1, flow2, flow3, flow3].map((r) => JSON.parse(JSON.stringify(flowToJson(r)))));
  const totals = proc.stderr.split("\n").filter((l) => l.includes("totals:"));
  expect(totals).toEqual([
    "netflow-agent: totals: agent agent-a (node-a, 0.1.0): 2 batches, 3 flows, 20 packets, 8720 bytes, 1 duplicate batches dropped",
    "netflow-agent: totals: agent agent-b (node-b, 0.1.0): 1 batches, 1 flows, 7 packets, 7000 bytes, 0 duplicate batches dropped",
  ]);
});

test("--output-file: lines appended to the file, none on stdout", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netflow-collect-"));
  dirs.push(dir);
  const file = join(dir, "flows.jsonl");
  const { proc, client } = await startCollect(["--output-file", file]);
  await using _ = proc;
  await client.export({ agent: agentA, sequence: 1n, batch: toBatchMessage(batchOf([flow1, flow3])) });
  expect(await proc.stop("SIGINT")).toBe(0);
  expect(proc.flows).toEqual([]);
  const lines = readFileSync(file, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
  expect(lines).toEqual([flow1, flow3].map((r) => JSON.parse(JSON.stringify(flowToJson(r)))));
});

describe("invalid requests: INVALID_ARGUMENT naming the field, nothing stored, server stays up", () => {
  const cases: [string, Parameters<ReturnType<typeof createClient<typeof CollectorService>>["export"]>[0], string][] = [
    ["no agent id", { sequence: 1n, batch: toBatchMessage(batchOf([flow1])) }, "agent.agent_id is empty: every request names its agent"],
    ["sequence 0", { agent: agentA, sequence: 0n, batch: toBatchMessage(batchOf([flow1])) }, "sequence 0 must be >= 1"],
    ["no batch", { agent: agentA, sequence: 1n }, "batch is missing"],
  ];
  test("each refused, then a valid batch is printed and counted", async () => {
    const { proc, client } = await startCollect();
    await using _ = proc;
    const badAddress = toBatchMessage(batchOf([flow1, flow2]));
    badAddress.flows[1]!.dstAddr = new Uint8Array(5);
    cases.push(["5-byte address", { agent: agentA, sequence: 1n, batch: badAddress }, "batch: flow 1: dst_addr has 5 bytes, expected 4 (IPv4), 16 (IPv6) or 0 (not IP)"]);
    for (const [, request, message] of cases) {
      const error = await client.export(request).then(() => undefined, (e) => ConnectError.from(e));
      expect({ code: error?.code, message: error?.rawMessage }).toEqual({ code: Code.InvalidArgument, message });
    }
    await client.export({ agent: agentA, sequence: 1n, batch: toBatchMessage(batchOf([flow2])) });
    expect(await proc.stop()).toBe(0);
    expect(proc.flows).toEqual([JSON.parse(JSON.stringify(flowToJson(flow2)))]);
    expect(proc.stderr).toContain("netflow-agent: totals: agent agent-a (node-a, 0.1.0): 1 batches, 1 flows, 3 packets, 300 bytes, 0 duplicate batches dropped\n");
    expect(proc.stderr).toContain("netflow-agent: totals: 4 invalid requests refused\n");
  });
});

describe("bad command lines: one line", () => {
  async function cli(args: string[]) {
    const proc = Bun.spawn([process.execPath, cliPath, ...args], { stdout: "pipe", stderr: "pipe" });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    return { code, lines: stderr.trim().split("\n") };
  }
  const cases: [string[], number, string][] = [
    [["collect", "--listen", "nope"], 2, 'netflow-agent: error: --listen "nope" must be host:port with port 0-65535 (examples: 127.0.0.1:9990, [::1]:9990)'],
    [["collect", "--listen", "127.0.0.1:70000"], 2, 'netflow-agent: error: --listen "127.0.0.1:70000" must be host:port with port 0-65535 (examples: 127.0.0.1:9990, [::1]:9990)'],
    [["collect", "--max-request-bytes", "10"], 2, "netflow-agent: error: --max-request-bytes 10 must be >= 1024 and <= 4294967295"],
    [["collect", "--bogus"], 2, "netflow-agent: error: unknown option '--bogus'"],
    [["collect", "--listen", "192.0.2.1:9999"], 1, "netflow-agent: error: listening on 192.0.2.1:9999: EADDRNOTAVAIL (no interface on this host has that address)"],
  ];
  for (const [args, code, line] of cases)
    test(args.join(" "), async () => {
      expect(await cli(args)).toEqual({ code, lines: [line] });
    });

  test("a port in use: exit 1, one line", async () => {
    const { proc } = await startCollect();
    await using _ = proc;
    const port = /127\.0\.0\.1:(\d+)/.exec(proc.stderr)![1]!;
    expect(await cli(["collect", "--listen", `127.0.0.1:${port}`])).toEqual({
      code: 1,
      lines: [`netflow-agent: error: listening on 127.0.0.1:${port}: EADDRINUSE (the port is in use: pick another or stop what holds it)`],
    });
  });
});
