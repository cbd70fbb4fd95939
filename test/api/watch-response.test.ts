/**
 * A WatchResponse carrying an already-encoded batch serializes to exactly the
 * bytes of the same message built field by field, for binary clients; JSON
 * clients get the batch decoded into the message, the same JSON.
 */
import { expect, test } from "bun:test";
import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { toBatchMessage } from "../../src/api/flow-message.ts";
import { writeWatchBatchField } from "../../src/api/watch-batch-wire.ts";
import { wantsJson, watchResponse } from "../../src/api/watch-response.ts";
import { WireWriter } from "../../src/export/wire-writer.ts";
import { WatchResponseSchema } from "../../src/gen/netflow/v1/agent_pb.ts";
import { batchOf, randomFlows } from "./flow-fixtures.ts";

const batch = batchOf(randomFlows(50, 5), 1_764_000_003_000.25);
const w = new WireWriter();
writeWatchBatchField(w, batch, undefined);
const batchField = w.take();
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const built = (dropped: number) => create(WatchResponseSchema, { batch: toBatchMessage(batch), droppedBatches: BigInt(dropped) });

test.each([0, 1, 127, 300, 2 ** 40])("dropped_batches %d: the same bytes as the message built with create()", (dropped) => {
  const bytes = toBinary(WatchResponseSchema, watchResponse(batchField, dropped));
  expect(hex(bytes)).toBe(hex(toBinary(WatchResponseSchema, built(dropped))));
  expect(fromBinary(WatchResponseSchema, bytes).droppedBatches).toBe(BigInt(dropped));
});

test("for JSON, the batch is in the message itself: the same JSON, no unknown fields", () => {
  const response = watchResponse(batchField, 3, true);
  expect(response.$unknown).toBeUndefined();
  expect(toJson(WatchResponseSchema, response)).toEqual(toJson(WatchResponseSchema, built(3)));
});

test("wantsJson: the +json and /json content types of Connect, gRPC and gRPC-Web", () => {
  const json = ["application/json", "application/connect+json", "application/grpc+json", "application/grpc-web+json", "Application/Connect+JSON; charset=utf-8"];
  const binary = ["application/proto", "application/connect+proto", "application/grpc", "application/grpc+proto", "application/grpc-web+proto", "application/jsonish", null];
  expect(json.map(wantsJson)).toEqual(json.map(() => true));
  expect(binary.map(wantsJson)).toEqual(binary.map(() => false));
});
