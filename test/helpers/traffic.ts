/** Traffic between the hosts of a VethPair, with exactly known packet counts and sizes. */
import { $ } from "bun";
import { join } from "node:path";
import type { Host } from "./netns.ts";
import { waitFor } from "./wait-for.ts";

const helpers = import.meta.dir;

/** Starts a UDP receiver in `host` and resolves once it listens; `done` gives the count received. */
export async function receiveUdp(host: Host, addr: string, port: number, count: number, ms = 20000) {
  const proc = Bun.spawn(["ip", "netns", "exec", host.ns, process.execPath, join(helpers, "receive-udp.ts"), addr, String(port), String(count), String(ms)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stderr.getReader();
  let text = "";
  while (!text.includes("listening")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`receiver failed: ${text}`);
    text += new TextDecoder().decode(value);
  }
  return {
    done: async (): Promise<number> => JSON.parse(await new Response(proc.stdout).text()).received,
    kill: () => proc.kill(),
  };
}

/** Sends `count` datagrams of `size` payload bytes; returns the count sent. */
export async function sendUdp(host: Host, to: string, port: number, srcPort: number, count: number, size: number): Promise<number> {
  const proc = Bun.spawn(["ip", "netns", "exec", host.ns, process.execPath, join(helpers, "send-udp.ts"), to, String(port), String(srcPort), String(count), String(size)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`sender failed: ${err}`);
  return JSON.parse(out).sent;
}

/** Bytes on the wire (skb->len at TC: Ethernet header included) of one UDP datagram. */
export function udpFrameBytes(payload: number, ipv6: boolean): number {
  return 14 + (ipv6 ? 40 : 20) + 8 + payload;
}

/** Resolves once a TCP socket in `host` listens on `port` (a server started in the background is ready). */
export async function waitForTcpListener(host: Host, port: number) {
  await waitFor(`a TCP listener on ${host.ns} port ${port}`, async () => (await $`ip netns exec ${host.ns} ss -Hltn sport = :${port}`.text()).trim() !== "");
}

/**
 * Resolves once no TCP connection on `port` is left in any of `hosts` but in
 * TIME-WAIT: every FIN and the last ACK have crossed (the side in LAST-ACK
 * goes only when that ACK arrives), so no packet of those connections is
 * still to come.
 */
export async function waitForTcpClosed(hosts: Host[], port: number) {
  const filter = `( sport = :${port} or dport = :${port} )`;
  const open = async () => {
    let lines = "";
    for (const host of hosts) lines += await $`ip netns exec ${host.ns} ss -Htan exclude time-wait ${filter}`.text();
    return lines.trim();
  };
  let last = "";
  await waitFor(`the TCP connections on port ${port} to close`, async () => (last = await open()) === "", { state: () => last });
}
