import { expect, test } from "bun:test";
import { JsonLinesExporter } from "../../src/export/json-lines.ts";
import { formatTable, TextTableExporter } from "../../src/export/text-table.ts";
import type { TextOutput } from "../../src/export/text-output.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";

const mapped = (a: number, b: number, c: number, d: number) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, a, b, c, d]);
const base: FlowRecord = {
  ifindex: 2, interface: "eth0", direction: "egress", ethType: 0x0800, protocol: 6,
  srcAddr: mapped(198, 18, 0, 1), dstAddr: mapped(198, 18, 0, 2), srcPort: 40000, dstPort: 443,
  packets: 12, bytes: 3456, startMs: Date.UTC(2026, 10, 25, 12), endMs: Date.UTC(2026, 10, 25, 12, 0, 1, 250),
  tcpFlags: 0x12, dscp: 0, icmpType: 0, icmpCode: 0, srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), flags: 0,
};

test("--output text: aligned columns, right-aligned counts, IPv6 endpoints in brackets", () => {
  const v6 = new Uint8Array(16);
  v6[0] = 0xfd;
  v6[15] = 1;
  const table = formatTable(FlowColumns.fromRecords([
    base,
    { ...base, ifindex: 3, interface: "veth-long-name", direction: "ingress", ethType: 0x86dd, protocol: 17, srcAddr: v6, dstAddr: v6, srcPort: 53, dstPort: 5353, packets: 1, bytes: 90, tcpFlags: 0 },
    { ...base, ethType: 0x0806, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16), srcPort: 0, dstPort: 0, packets: 3, bytes: 126, tcpFlags: 0 },
  ]));
  expect(table).toBe(
    [
      "TIME          IFACE           DIR  PROTO  SOURCE            DESTINATION     PACKETS  BYTES  FLAGS",
      "12:00:01.250  eth0            out  TCP    198.18.0.1:40000  198.18.0.2:443       12   3456  SYN,ACK",
      "12:00:01.250  veth-long-name  in   UDP    [fd00::1]:53      [fd00::1]:5353        1     90",
      "12:00:01.250  eth0            out  ARP    -                 -                     3    126",
      "",
    ].join("\n"),
  );
});

const batchOf = (records: FlowRecord[]) => ({
  flows: FlowColumns.fromRecords(records),
  evictedAtMs: 0,
  evictionMs: 0,
  counters: { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: 0 },
});

/** A TextOutput that keeps what it is given; `room` decides hasRoom(). */
function recordingOutput(room = true) {
  const writes: { text: string; records: number; headerLines: number }[] = [];
  let dropped = 0;
  const output: TextOutput = {
    hasRoom: () => room,
    write: (text, records, headerLines = 0) => void writes.push({ text, records, headerLines }),
    drop: (records) => void (dropped += records),
    stats: () => ({ queuedRecords: 0, queuedBytes: 0, sentRecords: 0, droppedRecords: dropped, sendErrors: 0 }),
    async [Symbol.asyncDispose]() {},
  };
  return { output, writes, dropped: () => dropped };
}

test("TextTableExporter: biggest flows first, the table in chunks whose records add up, the header counted apart, a blank line after", () => {
  const records = Array.from({ length: 3000 }, (_, i) => ({ ...base, srcPort: 1000 + i, bytes: (i * 7919) % 3001 }));
  const { output, writes } = recordingOutput();
  new TextTableExporter(output).export(batchOf(records));
  expect(writes.length).toBeGreaterThan(2); // ~270 KB of rows: several 64 KB chunks
  expect(writes.map((w) => w.headerLines)).toEqual([1, ...writes.slice(1).map(() => 0)]);
  expect(writes.reduce((n, w) => n + w.records, 0)).toBe(3000);
  const text = writes.map((w) => w.text).join("");
  expect(text.endsWith("\n\n")).toBe(true);
  const rows = text.trimEnd().split("\n").slice(1);
  const bytes = rows.map((row) => Number(row.trim().split(/\s+/)[7]));
  expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
  for (const w of writes) expect(w.text.split("\n").length - 1).toBeGreaterThanOrEqual(w.records + w.headerLines);
});

test("TextTableExporter / JsonLinesExporter: an output without room gets the batch counted as dropped, nothing formatted", () => {
  const records = Array.from({ length: 10 }, (_, i) => ({ ...base, srcPort: 1000 + i }));
  const table = recordingOutput(false);
  new TextTableExporter(table.output).export(batchOf(records));
  expect(table.writes).toEqual([]);
  expect(table.dropped()).toBe(10);
  const json = recordingOutput(false);
  new JsonLinesExporter(json.output).export(batchOf(records));
  expect(json.writes).toEqual([]);
  expect(json.dropped()).toBe(10);
});

test("JsonLinesExporter over a blocking LineWriter (collect): every line written, counted as sent", () => {
  let text = "";
  const sink = new JsonLinesExporter((t) => void (text += t));
  sink.export(batchOf([base, { ...base, srcPort: 1 }]));
  expect(text.split("\n")).toHaveLength(3);
  expect(sink.stats()).toEqual({ queuedRecords: 0, queuedBytes: 0, sentRecords: 2, droppedRecords: 0, sendErrors: 0 });
});
