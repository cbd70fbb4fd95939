/**
 * proto/pbflow must stay wire-compatible with netobserv-ebpf-agent's
 * proto/flow.proto: these are its names and numbers (checked against the
 * public file), so a renumbering or rename here fails before it reaches FLP.
 */
import { expect, test } from "bun:test";
import type { DescMessage } from "@bufbuild/protobuf";
import {
  Collector,
  DataLinkSchema,
  DupMapEntrySchema,
  IPSchema,
  NetworkSchema,
  RecordSchema,
  RecordsSchema,
  TransportSchema,
  file_pbflow_flow,
} from "../../src/gen/pbflow/flow_pb.ts";

const fields = (schema: DescMessage) => schema.fields.map((f) => `${f.number} ${f.name}:${f.fieldKind === "scalar" ? f.scalar : f.fieldKind === "message" ? f.message.typeName : f.fieldKind === "enum" ? f.enum.typeName : f.fieldKind}`);

test("package, service and method", () => {
  expect(file_pbflow_flow.proto.package).toBe("pbflow");
  expect(Collector.typeName).toBe("pbflow.Collector");
  expect(Collector.method.send.name).toBe("Send");
  expect(Collector.method.send.methodKind).toBe("unary");
  expect(Collector.method.send.input.typeName).toBe("pbflow.Records");
  expect(Collector.method.send.output.typeName).toBe("pbflow.CollectorReply");
});

test("message fields: numbers and types as netobserv's", () => {
  // ScalarType numbers: 4 UINT64, 7 FIXED32, 9 STRING, 12 BYTES, 13 UINT32.
  expect(fields(RecordsSchema)).toEqual(["1 entries:list"]);
  expect(fields(RecordSchema)).toEqual([
    "1 eth_protocol:13",
    "2 direction:pbflow.Direction",
    "3 time_flow_start:google.protobuf.Timestamp",
    "4 time_flow_end:google.protobuf.Timestamp",
    "5 data_link:pbflow.DataLink",
    "6 network:pbflow.Network",
    "7 transport:pbflow.Transport",
    "8 bytes:4",
    "9 packets:4",
    "10 interface:9",
    "12 agent_ip:pbflow.IP",
    "13 flags:13",
    "14 icmp_type:13",
    "15 icmp_code:13",
    "16 pkt_drop_bytes:4",
    "17 pkt_drop_packets:4",
    "18 pkt_drop_latest_flags:13",
    "19 pkt_drop_latest_state:13",
    "20 pkt_drop_latest_drop_cause:13",
    "21 dns_id:13",
    "22 dns_flags:13",
    "23 dns_latency:google.protobuf.Duration",
    "24 time_flow_rtt:google.protobuf.Duration",
    "25 dns_errno:13",
    "26 dup_list:list",
    "29 sampling:13",
    "32 dns_name:9",
  ]);
  const dupList = RecordSchema.field.dupList!;
  expect(dupList.fieldKind === "list" && dupList.listKind === "message" && dupList.message.typeName).toBe("pbflow.DupMapEntry");
  expect(fields(DupMapEntrySchema)).toEqual(["1 interface:9", "2 direction:pbflow.Direction"]);
  expect(fields(DataLinkSchema)).toEqual(["1 src_mac:4", "2 dst_mac:4"]);
  expect(fields(NetworkSchema)).toEqual(["1 src_addr:pbflow.IP", "2 dst_addr:pbflow.IP", "3 dscp:13"]);
  expect(fields(IPSchema)).toEqual(["1 ipv4:7", "2 ipv6:12"]);
  expect(IPSchema.oneofs.map((o) => o.name)).toEqual(["ip_family"]);
  expect(fields(TransportSchema)).toEqual(["1 src_port:13", "2 dst_port:13", "3 protocol:13"]);
  expect(file_pbflow_flow.enums[0]!.values.map((v) => `${v.name}=${v.number}`)).toEqual(["INGRESS=0", "EGRESS=1"]);
});
