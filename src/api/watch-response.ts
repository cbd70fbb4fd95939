/**
 * A netflow.v1.WatchResponse whose batch is already protobuf bytes (encoded
 * from the columns by watch-batch-wire.ts), handed to Connect as is.
 *
 * Connect serializes what a handler yields with toBinary, which writes a
 * message's unknown fields verbatim after its known ones. So both fields
 * travel as unknown fields of an otherwise empty WatchResponse, in field
 * order: the bytes on the wire are exactly toBinary of the decoded message
 * (test/api/watch-response.test.ts), and no Flow object is ever built.
 *
 * JSON clients (Connect or gRPC with +json) get no unknown fields, so for
 * them the batch is decoded into the message: slower, but the same content.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { type WatchResponse, WatchResponseSchema } from "../gen/netflow/v1/agent_pb.ts";
import { FlowBatchSchema } from "../gen/netflow/v1/flow_pb.ts";

const BATCH_FIELD = 1;
const DROPPED_BATCHES_FIELD = 2;

/**
 * `batchField`: a length-prefixed netflow.v1.FlowBatch (writeWatchBatchField).
 * `json`: the client reads JSON (see wantsJson).
 */
export function watchResponse(batchField: Uint8Array, droppedBatches: number, json = false): WatchResponse {
  if (json) {
    const batch = fromBinary(FlowBatchSchema, new BinaryReader(batchField).bytes());
    return create(WatchResponseSchema, { batch, droppedBatches: BigInt(droppedBatches) });
  }
  const response = create(WatchResponseSchema);
  response.$unknown = [{ no: BATCH_FIELD, wireType: WireType.LengthDelimited, data: batchField }];
  // proto3 leaves a zero out, as toBinary would.
  if (droppedBatches > 0)
    response.$unknown.push({ no: DROPPED_BATCHES_FIELD, wireType: WireType.Varint, data: new BinaryWriter().uint64(droppedBatches).finish() });
  return response;
}

/** Whether a request's Content-Type asks for JSON ("application/connect+json", "application/grpc+json", ...). */
export function wantsJson(contentType: string | null): boolean {
  return contentType !== null && /[/+]json\b/i.test(contentType);
}
