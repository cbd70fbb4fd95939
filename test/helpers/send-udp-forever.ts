#!/usr/bin/env bun
/**
 * A UDP sender that runs until killed: one datagram every 20 ms from
 * `srcPort` to addr:port. Prints "ready" once its socket is bound.
 *   bun send-udp-forever.ts <addr> <port> <srcPort>
 */
import dgram from "node:dgram";

const [addr, port, srcPort] = process.argv.slice(2);
const socket = dgram.createSocket(addr!.includes(":") ? "udp6" : "udp4");
await new Promise<void>((resolve) => socket.bind(Number(srcPort), resolve));
console.log("ready");
const payload = Buffer.alloc(32, 0x61);
setInterval(() => socket.send(payload, Number(port), addr), 20);
