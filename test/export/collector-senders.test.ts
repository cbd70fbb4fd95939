/** The requests the senders build serialize to exactly the reference requests' bytes. */
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { toBatchMessage } from "../../src/api/flow-message.ts";
import { exportRequest, recordsRequest } from "../../src/export/collector-senders.ts";
import { agentIpMessage, toNetobservRecords } from "../../src/export/netobserv-record.ts";
import { WireWriter } from "../../src/export/wire-writer.ts";
import { ExportRequestSchema } from "../../src/gen/netflow/v1/collector_pb.ts";
import { IPSchema, RecordsSchema } from "../../src/gen/pbflow/flow_pb.ts";
import { batchOf, ipv6, udpFlow } from "../api/flow-fixtures.ts";
import { numberedRecords } from "./export-fixtures.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const agent = { hostname: "node-1", agentId: "5f0c2d4e-0000-4000-8000-000000000001", agentVersion: "0.1.0" };

describe("exportRequest", () => {
  test.each([0, 1, 2, 1000])("%i records: the bytes of the ExportRequest with batch set", (count) => {
    const batch = batchOf([...numberedRecords(0, count)]);
    const { records, ...eviction } = batch;
    const w = new WireWriter(64);
    const request = exportRequest(w, new Map(), agent, { sequence: 9, records, tag: eviction, attempts: 0 });
    const reference = create(ExportRequestSchema, { agent, sequence: 9n, batch: toBatchMessage(batch) });
    expect(hex(toBinary(ExportRequestSchema, request))).toBe(hex(toBinary(ExportRequestSchema, reference)));
  });

  test("a batch without eviction metadata gets zero times and counters", () => {
    const request = exportRequest(new WireWriter(), new Map(), agent, { sequence: 1, records: [udpFlow()], tag: undefined, attempts: 0 });
    const decoded = fromBinary(ExportRequestSchema, toBinary(ExportRequestSchema, request));
    expect([decoded.batch!.flows.length, decoded.batch!.evictedAt!.seconds, decoded.batch!.kernel!.mapErrors]).toEqual([1, 0n, 0n]);
  });
});

describe("recordsRequest", () => {
  test.each([0, 1, 2, 1000])("%i records: the bytes of toNetobservRecords", (count) => {
    const records = [...numberedRecords(0, count)];
    if (count > 1) records[1] = udpFlow({ ethType: 0x86dd, protocol: 6, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), interface: "x".repeat(200) });
    const agentIp = agentIpMessage(new Uint8Array([10, 0, 0, 1]));
    const request = recordsRequest(new WireWriter(16), new Map(), toBinary(IPSchema, agentIp), records);
    expect(hex(toBinary(RecordsSchema, request))).toBe(hex(toBinary(RecordsSchema, toNetobservRecords(records, agentIp))));
    expect(fromBinary(RecordsSchema, toBinary(RecordsSchema, request)).entries).toHaveLength(count);
  });
});
