#!/usr/bin/env bun
/** Counts UDP datagrams on [addr]:port until `count` arrive or `ms` pass; prints {"received":N}. */
import dgram from "node:dgram";

const [addr, port, count, ms] = process.argv.slice(2);
const socket = dgram.createSocket(addr!.includes(":") ? "udp6" : "udp4");
let received = 0;
const done = () => {
  socket.close();
  console.log(JSON.stringify({ received }));
  process.exit(0);
};
socket.on("message", () => {
  if (++received >= Number(count)) done();
});
socket.bind(Number(port), addr, () => console.error("listening"));
setTimeout(done, Number(ms));
