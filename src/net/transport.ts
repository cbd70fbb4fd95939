/**
 * The one place Connect client transports are built (the agent's exporter,
 * the Watch client, `top`). Bun's HTTP/2 client has had gRPC bugs: if one
 * shows up, switch protocol or HTTP version here and nowhere else.
 */
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ConfigError } from "../config-error.ts";
import { createGrpcUnaryTransport } from "./grpc-unary-transport.ts";

export interface TransportOptions {
  /** "grpc" (default; what other gRPC servers speak) or "connect". */
  protocol?: "grpc" | "connect";
  /** Responses larger than this fail with RESOURCE_EXHAUSTED. */
  readMaxBytes?: number;
  /** TLS and other node:http2 connect options (part B's --tls flags). */
  nodeOptions?: Parameters<typeof createGrpcTransport>[0]["nodeOptions"];
  /**
   * gRPC unary calls only (the exporter): served by the lean transport of
   * grpc-unary-transport.ts unless NETFLOW_GRPC_TRANSPORT=connect-node picks
   * connect-node's again (the escape hatch if Bun's HTTP/2 misbehaves with one).
   */
  unaryOnly?: boolean;
}

/**
 * "host:port" means http://host:port (h2c); a full "http://" or "https://" URL is
 * taken as it is. A ConfigError names the flag and the value.
 */
export function targetUrl(flag: string, target: string): string {
  const text = target.trim();
  if (/^https?:\/\//.test(text)) {
    if (URL.canParse(text)) return text.replace(/\/+$/, "");
  } else if (/^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):\d{1,5}$/.test(text) && Number(text.slice(text.lastIndexOf(":") + 1)) <= 65535) {
    return `http://${text}`;
  }
  throw new ConfigError(`${flag} "${target}" must be host:port or an http(s):// URL (example: 127.0.0.1:9990)`);
}

/** A transport to `baseUrl` over HTTP/2, one connection shared by every call. */
export function createClientTransport(baseUrl: string, options: TransportOptions = {}): Transport {
  const common = { baseUrl, readMaxBytes: options.readMaxBytes, nodeOptions: options.nodeOptions };
  // gRPC is HTTP/2 only; Connect is asked for HTTP/2 too, so a Watch stream and unary calls share one connection.
  return options.protocol === "connect" ? createConnectTransport({ ...common, httpVersion: "2" }) : createGrpcTransport(common);
}

/**
 * Like createClientTransport, but the caller owns the HTTP/2 connection:
 * `close()` ends it and every call on it. For clients that live as long as
 * the agent (the gRPC exporter), so shutting down leaves no socket behind.
 */
export function createClosableClientTransport(baseUrl: string, options: TransportOptions = {}): { transport: Transport; close(): void } {
  const sessionManager = new Http2SessionManager(baseUrl, {}, options.nodeOptions);
  const common = { baseUrl, httpVersion: "2" as const, readMaxBytes: options.readMaxBytes, sessionManager };
  const lean = options.unaryOnly && options.protocol !== "connect" && process.env.NETFLOW_GRPC_TRANSPORT !== "connect-node";
  const transport = lean
    ? createGrpcUnaryTransport(sessionManager, { readMaxBytes: options.readMaxBytes })
    : options.protocol === "connect"
      ? createConnectTransport(common)
      : createGrpcTransport(common);
  return { transport, close: () => sessionManager.abort() };
}
