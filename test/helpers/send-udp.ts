#!/usr/bin/env bun
/**
 * A traffic generator whose output is known exactly: `count` UDP datagrams of
 * `size` payload bytes from `srcPort` to addr:port, paced so none is dropped
 * at the sender. Prints {"sent":N} when done.
 *   bun send-udp.ts <addr> <port> <srcPort> <count> <size>
 */
import dgram from "node:dgram";

const [addr, port, srcPort, count, size] = process.argv.slice(2);
const family = addr!.includes(":") ? "udp6" : "udp4";
const socket = dgram.createSocket(family);
await new Promise<void>((resolve) => socket.bind(Number(srcPort), resolve));
const payload = Buffer.alloc(Number(size), 0x61);
let sent = 0;
for (let i = 0; i < Number(count); i++) {
  await new Promise<void>((resolve, reject) => socket.send(payload, Number(port), addr, (err) => (err ? reject(err) : resolve())));
  sent++;
}
socket.close();
console.log(JSON.stringify({ sent }));
