/**
 * A lean Connect Transport for unary gRPC calls over node:http2 — what the
 * gRPC exporter makes, hundreds of times a second with requests of up to a
 * few MB. On Bun, connect-node's transport spends 3-4x the CPU of the call
 * itself per request (async-iterable plumbing and extra copies of the body:
 * bench/RESULTS-export.md); this one writes the envelope header and the
 * serialized message as they are and reads the reply in one piece.
 *
 * Speaks the gRPC protocol (application/grpc+proto, grpc-timeout, status in
 * trailers or trailers-only) on connect-node's Http2SessionManager, which
 * owns the connection (connects, reconnects, closes on abort). Streaming
 * calls are not supported: use createClientTransport for those.
 */
import {
  create,
  fromBinary,
  isMessage,
  toBinary,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  type Message,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamResponse, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { codeFromHttpStatus, findTrailerError } from "@connectrpc/connect/protocol-grpc";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import http2 from "node:http2";

export interface GrpcUnaryTransportOptions {
  /** Replies larger than this fail with RESOURCE_EXHAUSTED. */
  readMaxBytes?: number;
}

function headersFrom(node: http2.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith(":") || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(key, v);
  }
  return headers;
}

function varintLength(value: number): number {
  let n = 1;
  while (value > 0x7f) {
    value >>>= 7;
    n++;
  }
  return n;
}

/**
 * The request body: envelope header (flags 0, length big-endian) and the
 * message, in one allocation. Unknown fields (the exporter hands its
 * pre-encoded batch over as one) are copied once, straight into place, where
 * toBinary would copy them through a growing buffer and the envelope again.
 */
function envelopedRequest(schema: DescMessage, message: Message, buffers: BufferPool): Uint8Array {
  const unknown = message.$unknown ?? [];
  const known = unknown.length === 0 ? toBinary(schema, message) : toBinary(schema, message, { writeUnknownFields: false });
  let length = known.length;
  for (const field of unknown) length += varintLength(((field.no << 3) | field.wireType) >>> 0) + field.data.length;
  const body = buffers.acquire(5 + length);
  body[0] = 0;
  new DataView(body.buffer, body.byteOffset).setUint32(1, length);
  body.set(known, 5);
  let pos = 5 + known.length;
  for (const field of unknown) {
    for (let tag = ((field.no << 3) | field.wireType) >>> 0; ; tag >>>= 7) {
      if (tag <= 0x7f) {
        body[pos++] = tag;
        break;
      }
      body[pos++] = (tag & 0x7f) | 0x80;
    }
    body.set(field.data, pos);
    pos += field.data.length;
  }
  return body;
}

/** The message of a single-envelope gRPC reply body. */
function unwrapEnvelope(body: Uint8Array): Uint8Array {
  if (body.length < 5) throw new ConnectError(`reply of ${body.length} bytes is shorter than a gRPC envelope`, Code.Internal);
  if (body[0] !== 0) throw new ConnectError(`reply envelope flags ${body[0]}: compression was not asked for`, Code.Internal);
  const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1);
  if (length !== body.length - 5) throw new ConnectError(`reply envelope says ${length} bytes, body has ${body.length - 5}`, Code.Internal);
  return body.subarray(5);
}

/**
 * One request buffer kept for the next call: the exporter sends one request
 * at a time, and allocating a fresh MB-sized buffer per call makes the
 * garbage collector walk the agent's heap (the export queue) far more often.
 */
class BufferPool {
  private spare: ArrayBuffer | undefined;

  acquire(size: number): Uint8Array {
    const spare = this.spare;
    if (spare && spare.byteLength >= size) {
      this.spare = undefined;
      return new Uint8Array(spare, 0, size);
    }
    return new Uint8Array(new ArrayBuffer(Math.max(size, 64 * 1024)), 0, size);
  }

  /** After the call's stream closed: its body was written out and is no longer read. */
  release(body: Uint8Array) {
    const buffer = body.buffer as ArrayBuffer;
    if (!this.spare || buffer.byteLength > this.spare.byteLength) this.spare = buffer;
  }
}

export function createGrpcUnaryTransport(sessions: Http2SessionManager, options: GrpcUnaryTransportOptions = {}): Transport {
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff;
  const buffers = new BufferPool();

  async function unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: ConstructorParameters<typeof Headers>[0] | undefined,
    input: MessageInitShape<I>,
  ): Promise<UnaryResponse<I, O>> {
    signal?.throwIfAborted();
    const message = isMessage(input, method.input) ? input : create(method.input, input);
    const body = envelopedRequest(method.input, message, buffers);
    const requestHeaders: http2.OutgoingHttpHeaders = {
      "content-type": "application/grpc+proto",
      te: "trailers",
      "user-agent": "netflow-agent grpc-unary-transport",
    };
    new Headers(header).forEach((value, key) => (requestHeaders[key] = value));
    if (timeoutMs !== undefined) requestHeaders["grpc-timeout"] = `${Math.max(1, Math.ceil(timeoutMs))}m`;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = await sessions.request("POST", `/${method.parent.typeName}/${method.name}`, requestHeaders, {});
    } catch (error) {
      buffers.release(body);
      throw ConnectError.from(error, Code.Unavailable);
    }
    stream.once("close", () => buffers.release(body));
    return new Promise<UnaryResponse<I, O>>((resolve, reject) => {
      const chunks: Uint8Array[] = [];
      let received = 0;
      let responseHeaders = new Headers();
      let trailers = new Headers();
      let httpStatus = 0;
      let settled = false;
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => fail(new ConnectError(`no reply within ${timeoutMs} ms`, Code.DeadlineExceeded)), timeoutMs);
      const onAbort = () => fail(ConnectError.from(signal!.reason, Code.Canceled));
      signal?.addEventListener("abort", onAbort);

      function settle() {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      }
      function fail(error: ConnectError) {
        if (settled) return;
        settle();
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(error);
      }

      stream.on("response", (h) => {
        httpStatus = Number(h[":status"]);
        responseHeaders = headersFrom(h);
      });
      stream.on("trailers", (t) => (trailers = headersFrom(t)));
      stream.on("data", (chunk: Uint8Array) => {
        received += chunk.length;
        if (received > readMaxBytes + 5) return fail(new ConnectError(`reply larger than ${readMaxBytes} bytes`, Code.ResourceExhausted));
        chunks.push(chunk);
        sessions.notifyResponseByteRead(stream);
      });
      stream.on("error", (error) => fail(ConnectError.from(error, Code.Unavailable)));
      stream.on("close", () => {
        if (settled) return;
        if (httpStatus !== 200) {
          // Trailers-only errors from a gRPC server come with :status 200; anything else is from a proxy or not gRPC.
          const trailerError = findTrailerError(responseHeaders);
          return fail(trailerError ?? new ConnectError(`HTTP ${httpStatus || "no response"} from the server`, httpStatus ? codeFromHttpStatus(httpStatus) : Code.Unavailable));
        }
        const error = findTrailerError(trailers) ?? findTrailerError(responseHeaders);
        if (error) return fail(error);
        if (!trailers.has("grpc-status") && !responseHeaders.has("grpc-status")) return fail(new ConnectError("reply without grpc-status", Code.Internal));
        try {
          const reply = fromBinary(method.output, unwrapEnvelope(Buffer.concat(chunks)));
          settle();
          resolve({ stream: false, service: method.parent, method, header: responseHeaders, trailer: trailers, message: reply });
        } catch (error) {
          fail(ConnectError.from(error, Code.Internal));
        }
      });
      stream.end(body);
    });
  }

  return {
    unary,
    stream<I extends DescMessage, O extends DescMessage>(method: DescMethodStreaming<I, O>): Promise<StreamResponse<I, O>> {
      return Promise.reject(new ConnectError(`${method.parent.typeName}/${method.name}: streaming calls need createClientTransport`, Code.Unimplemented));
    },
  };
}
