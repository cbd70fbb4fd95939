/**
 * The one Connect server of the project: a ConnectRouter reachable on one
 * port over HTTP/2 without TLS (h2c: gRPC, Connect, gRPC-Web) and HTTP/1.1
 * (Connect, gRPC-Web). Listeners bind to 127.0.0.1 unless told otherwise.
 *
 * Why not `http2.createServer({ allowHTTP1: true })`: in Bun (1.4) a plain-text
 * http2 server answers an HTTP/1.1 request with HTTP/2 frames (curl reports
 * "Received HTTP/0.9"); allowHTTP1 only works with TLS ALPN. So a net.Server
 * reads the first bytes of each connection and hands it to an http2 server
 * when they are the HTTP/2 client preface, to an http server otherwise. Both
 * share one connectNodeAdapter handler. If Bun's allowHTTP1 gets fixed, this
 * file is the only place to change.
 *
 * Plain HTTP routes (GET /metrics, /healthz, /readyz) are answered before the
 * Connect handler sees the request, on both protocols.
 *
 * Ownership: the returned ConnectServer owns the listening socket and every
 * connection. Disposing it aborts running handlers (open Watch streams end with
 * UNAVAILABLE), stops accepting, and destroys connections still open after `graceMs`.
 */
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import http from "node:http";
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import { hostPortText, type HostPort } from "./listen-address.ts";

/** Requests larger than this get RESOURCE_EXHAUSTED (32768 flows encode to ~2.8 MiB IPv4, ~3.7 MiB IPv6). */
export const DEFAULT_READ_MAX_BYTES = 16 * 1024 * 1024;

/** What a plain HTTP route answers. */
export interface PlainResponse {
  status: number;
  contentType: string;
  body: string;
}

/** Exact paths (no query) answered to GET and HEAD; other methods get 405. */
export type PlainRoutes = Readonly<Record<string, () => PlainResponse>>;

export interface ConnectServerOptions {
  listen: HostPort;
  routes: (router: ConnectRouter) => void;
  plainRoutes?: PlainRoutes;
  readMaxBytes?: number;
  /** How long open streams get to finish on close before their connections are destroyed. */
  graceMs?: number;
  /** A connection that sends nothing for this long before its first request is closed. */
  firstBytesTimeoutMs?: number;
}

export interface ConnectServer extends AsyncDisposable {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: HostPort;
  /** "http://127.0.0.1:9990", for clients. */
  readonly url: string;
  /** Idempotent. */
  close(): Promise<void>;
}

/** A listen failure in one line: where, why, what to do. */
export class ListenError extends Error {
  override readonly name = "ListenError";
  constructor(
    readonly listen: HostPort,
    /** "EADDRINUSE (the port is in use: pick another or stop what holds it)": why, and what to do. */
    readonly reason: string,
  ) {
    super(`listening on ${hostPortText(listen)}: ${reason}`);
  }
}

const HINTS: Record<string, string> = {
  EADDRINUSE: "the port is in use: pick another or stop what holds it",
  EADDRNOTAVAIL: "no interface on this host has that address",
  EACCES: "ports below 1024 need root or CAP_NET_BIND_SERVICE",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name does not resolve",
};

function listenFailure(error: NodeJS.ErrnoException): string {
  const code = error.code ?? error.message;
  const hint = HINTS[code];
  return `${code}${hint ? ` (${hint})` : ""}`;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function startsLikeHttp2(head: Buffer): boolean {
  const n = Math.min(head.length, H2_PREFACE.length);
  return n > 0 && head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
}

export async function startConnectServer(options: ConnectServerOptions): Promise<ConnectServer> {
  const shutdown = new AbortController();
  const handler = connectNodeAdapter({
    routes: options.routes,
    readMaxBytes: options.readMaxBytes ?? DEFAULT_READ_MAX_BYTES,
    shutdownSignal: shutdown.signal,
  });
  const plain = options.plainRoutes ?? {};
  // http2's compatibility API has the same calls as http's: typed as the latter.
  const serve = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? "").split("?")[0]!;
    const route = Object.hasOwn(plain, path) ? plain[path] : undefined;
    if (!route) return handler(req, res);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      return void res.end(`${req.method} ${path}: only GET and HEAD\n`);
    }
    let answer: PlainResponse;
    try {
      answer = route();
    } catch (error) {
      answer = { status: 500, contentType: "text/plain; charset=utf-8", body: `${error instanceof Error ? error.message : String(error)}\n` };
    }
    const body = Buffer.from(answer.body);
    res.writeHead(answer.status, { "content-type": answer.contentType, "content-length": String(body.length), "cache-control": "no-store" });
    if (req.method === "HEAD") res.end();
    else res.end(body);
  };
  const h2 = http2.createServer({}, serve as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const h1 = http.createServer(serve);
  // A client's protocol error ends its own connection, never the server.
  h2.on("sessionError", () => {});
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });

  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    // Until the protocol is known nothing else times the connection out.
    socket.setTimeout(options.firstBytesTimeoutMs ?? 10_000, () => socket.destroy());
    socket.once("readable", () => {
      const head: Buffer | null = socket.read(Math.min(H2_PREFACE.length, socket.readableLength)) ?? socket.read();
      if (!head) return;
      socket.setTimeout(0);
      socket.unshift(head);
      (startsLikeHttp2(head) ? h2 : h1).emit("connection", socket);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new ListenError(options.listen, listenFailure(error as NodeJS.ErrnoException))));
    server.listen(options.listen.port, options.listen.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  let closed: Promise<void> | undefined;

  async function close() {
    shutdown.abort(new ConnectError("server shutting down", Code.Unavailable));
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of sessions) session.close();
    h1.closeIdleConnections();
    const grace = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, options.graceMs ?? 1000);
    await stopped;
    clearTimeout(grace);
  }

  return {
    address,
    url: `http://${hostPortText(address)}`,
    close: () => (closed ??= close()),
    [Symbol.asyncDispose]: () => (closed ??= close()),
  };
}
