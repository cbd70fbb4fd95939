/**
 * The lean unary gRPC transport against the project's Connect server
 * (connect-node's gRPC handler): replies, every way a call can fail, and the
 * pre-encoded-field path the exporter uses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Http2SessionManager } from "@connectrpc/connect-node";
import { AgentService } from "../../src/gen/netflow/v1/agent_pb.ts";
import { CollectorService, ExportRequestSchema, type ExportRequest } from "../../src/gen/netflow/v1/collector_pb.ts";
import { createGrpcUnaryTransport } from "../../src/net/grpc-unary-transport.ts";
import { startConnectServer, type ConnectServer } from "../../src/net/connect-server.ts";

const received: ExportRequest[] = [];
/** Far longer than the deadline tested, so that answering at all is told apart from giving up in time on a loaded machine. */
const SLOW_MS = 10_000;
let server: ConnectServer;

beforeAll(async () => {
  server = await startConnectServer({
    listen: { host: "127.0.0.1", port: 0 },
    routes: (router) =>
      router.service(CollectorService, {
        async export(request, context) {
          received.push(request);
          const id = request.agent?.agentId ?? "";
          if (id === "invalid") throw new ConnectError("agent naïve: 100% wrong", Code.InvalidArgument);
          // Slow: answers after SLOW_MS, or not at all once the client gave up.
          if (id === "slow")
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, SLOW_MS);
              context.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
            });
          context.responseHeader.set("x-served-by", "test");
          return { duplicate: request.sequence === 2n };
        },
      }),
  });
});
afterAll(() => server.close());

function client(url = server.url, readMaxBytes?: number) {
  const sessions = new Http2SessionManager(url);
  return { sessions, collector: createClient(CollectorService, createGrpcUnaryTransport(sessions, { readMaxBytes })) };
}

async function failure(call: Promise<unknown>): Promise<[Code, string]> {
  try {
    await call;
  } catch (error) {
    const e = ConnectError.from(error);
    return [e.code, e.rawMessage];
  }
  throw new Error("the call succeeded");
}

describe("createGrpcUnaryTransport", () => {
  test("a call returns the decoded reply, many calls share one connection", async () => {
    const { sessions, collector } = client();
    try {
      const replies = [];
      for (let sequence = 1n; sequence <= 3n; sequence++) replies.push((await collector.export({ agent: { agentId: "a" }, sequence })).duplicate);
      expect(replies).toEqual([false, true, false]);
      let header: Headers | undefined;
      await collector.export({ agent: { agentId: "a" }, sequence: 4n }, { onHeader: (h) => (header = h) });
      expect(header?.get("x-served-by")).toBe("test");
    } finally {
      sessions.abort();
    }
  });

  test("a pre-encoded field ($unknown) arrives as that field", async () => {
    const { sessions, collector } = client();
    try {
      const request = create(ExportRequestSchema, { agent: { agentId: "raw" }, sequence: 7n });
      // FlowBatch { evicted_at { seconds: 5 } } as field 3: 0x12 0x02 0x08 0x05, length-prefixed.
      request.$unknown = [{ no: 3, wireType: WireType.LengthDelimited, data: new Uint8Array([4, 0x12, 0x02, 0x08, 0x05]) }];
      await collector.export(request);
      const got = received.at(-1)!;
      expect([got.sequence, got.batch?.evictedAt?.seconds]).toEqual([7n, 5n]);
    } finally {
      sessions.abort();
    }
  });

  test("the server's status and percent-encoded message come back as a ConnectError", async () => {
    const { sessions, collector } = client();
    try {
      expect(await failure(collector.export({ agent: { agentId: "invalid" } }))).toEqual([Code.InvalidArgument, "agent naïve: 100% wrong"]);
    } finally {
      sessions.abort();
    }
  });

  test("a method the server does not have: UNIMPLEMENTED", async () => {
    const sessions = new Http2SessionManager(server.url);
    try {
      const agent = createClient(AgentService, createGrpcUnaryTransport(sessions));
      const [code] = await failure(agent.status({}));
      expect(code).toBe(Code.Unimplemented);
    } finally {
      sessions.abort();
    }
  });

  test("no reply within timeoutMs: DEADLINE_EXCEEDED; an aborted signal: CANCELED", async () => {
    const { sessions, collector } = client();
    try {
      const started = Date.now();
      expect((await failure(collector.export({ agent: { agentId: "slow" } }, { timeoutMs: 150 })))[0]).toBe(Code.DeadlineExceeded);
      expect(Date.now() - started).toBeLessThan(SLOW_MS / 2);
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 100);
      expect((await failure(collector.export({ agent: { agentId: "slow" } }, { signal: abort.signal })))[0]).toBe(Code.Canceled);
    } finally {
      sessions.abort();
    }
  });

  test("nothing listening: UNAVAILABLE naming the refusal", async () => {
    const gone = await startConnectServer({ listen: { host: "127.0.0.1", port: 0 }, routes: () => {} });
    const url = gone.url;
    await gone.close();
    const { sessions, collector } = client(url);
    try {
      const [code, message] = await failure(collector.export({}));
      expect(code).toBe(Code.Unavailable);
      expect(message).toContain("ECONNREFUSED");
    } finally {
      sessions.abort();
    }
  });

  test("a reply larger than readMaxBytes: RESOURCE_EXHAUSTED", async () => {
    // The reply { duplicate: true } is 2 bytes.
    const { sessions, collector } = client(server.url, 1);
    try {
      expect(await failure(collector.export({ agent: { agentId: "a" }, sequence: 2n }))).toEqual([Code.ResourceExhausted, "reply larger than 1 bytes"]);
    } finally {
      sessions.abort();
    }
  });

  test("streaming calls are refused, pointing at the general transport", async () => {
    const sessions = new Http2SessionManager(server.url);
    try {
      const agent = createClient(AgentService, createGrpcUnaryTransport(sessions));
      const [code, message] = await failure((async () => {
        for await (const _ of agent.watch({})) break;
      })());
      expect([code, message]).toEqual([Code.Unimplemented, "netflow.v1.AgentService/Watch: streaming calls need createClientTransport"]);
    } finally {
      sessions.abort();
    }
  });
});
