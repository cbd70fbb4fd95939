#!/usr/bin/env bun
/**
 * A TCP listener on 127.0.0.1 and one connection to it, held until the
 * process is killed (its exit closes both). Prints one JSON line once
 * connected: {"listenPort":…,"clientPort":…}.
 *   bun hold-tcp-connection.ts
 */
import net from "node:net";

const server = net.createServer(() => {});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const listenPort = (server.address() as net.AddressInfo).port;
const client = net.connect(listenPort, "127.0.0.1");
await new Promise<void>((resolve) => client.once("connect", resolve));
console.log(JSON.stringify({ listenPort, clientPort: client.localPort }));
setInterval(() => {}, 60_000);
