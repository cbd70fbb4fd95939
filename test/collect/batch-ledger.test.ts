import { expect, test } from "bun:test";
import { BatchLedger, ledgerLine } from "../../src/collect/batch-ledger.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import { udpFlow } from "../api/flow-fixtures.ts";

const rows = (records: FlowRecord[]) => FlowColumns.fromRecords(records);

const a = { agentId: "a-1", hostname: "node-a", agentVersion: "0.1.0" };
const b = { agentId: "b-1", hostname: "node-b", agentVersion: "0.2.0" };

test("totals per agent; a duplicate is counted, its flows are not", () => {
  const ledger = new BatchLedger();
  expect(ledger.accept(a, 1n, rows([udpFlow(), udpFlow({ packets: 5, bytes: 500 })]))).toBe(true);
  expect(ledger.accept(b, 1n, rows([udpFlow()]))).toBe(true);
  expect(ledger.accept(a, 1n, rows([udpFlow(), udpFlow({ packets: 5, bytes: 500 })]))).toBe(false);
  expect(ledger.accept(a, 2n, rows([]))).toBe(true);
  expect(ledger.totals()).toEqual([
    { ...a, batches: 2, flows: 2, packets: 15, bytes: 1920, duplicateBatches: 1 },
    { ...b, batches: 1, flows: 1, packets: 10, bytes: 1420, duplicateBatches: 0 },
  ]);
  expect(ledgerLine(ledger.totals()[0]!)).toBe(
    "agent a-1 (node-a, 0.1.0): 2 batches, 2 flows, 15 packets, 1920 bytes, 1 duplicate batches dropped",
  );
});

test("a batch released after a failed store is accepted again on resend, counted once", () => {
  const ledger = new BatchLedger();
  const flows = rows([udpFlow({ packets: 3, bytes: 300 })]);
  expect(ledger.accept(a, 1n, flows)).toBe(true);
  ledger.release(a.agentId, 1n, flows); // the sink threw
  expect(ledger.totals()[0]).toMatchObject({ batches: 0, flows: 0, packets: 0, bytes: 0 });
  expect(ledger.accept(a, 1n, flows)).toBe(true); // the agent's retry
  expect(ledger.accept(a, 1n, flows)).toBe(false); // a true duplicate after that
  expect(ledger.totals()[0]).toMatchObject({ batches: 1, flows: 1, packets: 3, bytes: 300, duplicateBatches: 1 });
});
