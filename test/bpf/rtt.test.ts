/**
 * The TCP RTT tracker (bpf/rtt.h) on real sockets: the sock_ops program
 * attached at the cgroup v2 root (RttHook), a TCP connection over loopback in
 * this namespace exchanging a few messages, then tcp_rtt drained: one record
 * per socket (client and server), keyed as a flow key holds addresses
 * (IPv4-mapped, ports in host order) with this namespace's cookie, min ≤
 * latest ≤ max. Then joinRtt puts it on both directions' flows of that
 * 4-tuple and on no other. test/e2e/rtt.test.ts checks the figure against ss.
 */
import { expect, test } from "bun:test";
import { FlowObject } from "../../src/bpf/flow-object.ts";
import { FLOW_KEY, RTT_RECORD, SOCK_CONNECTION } from "../../src/bpf/flow-layout.ts";
import { RttHook } from "../../src/bpf/rtt-maps.ts";
import { joinRtt } from "../../src/flow/flow-rtt.ts";
import { kernelDescribe } from "../helpers/kernel-test.ts";
import { waitFor } from "../helpers/wait-for.ts";

const LOOPBACK = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]);

function flowKey(direction: 0 | 1, protocol: number, srcPort: number, dstPort: number): Uint8Array {
  const F = FLOW_KEY.fields;
  const key = new Uint8Array(FLOW_KEY.size);
  const v = new DataView(key.buffer);
  v.setUint32(F.ifindex.offset, 1, true);
  v.setUint16(F.eth_protocol.offset, 0x0800, true);
  key[F.direction.offset] = direction;
  key[F.protocol.offset] = protocol;
  key.set(LOOPBACK, F.src_ip.offset);
  key.set(LOOPBACK, F.dst_ip.offset);
  v.setUint16(F.src_port.offset, srcPort, true);
  v.setUint16(F.dst_port.offset, dstPort, true);
  return key;
}

kernelDescribe("TCP RTT (bpf/rtt.h)", () => {
  test("off: the sock_ops program is not loaded", async () => {
    using object = await FlowObject.load({ initialFlows: 64 });
    expect(object.rtt).toBeUndefined();
  });

  test("a loopback TCP connection: one record per socket, keyed like a flow key, joined to both directions", async () => {
    using object = await FlowObject.load({ initialFlows: 64, rtt: true });
    const rtt = object.rtt!;
    using _hook = RttHook.attach(rtt);
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d) => void s.write(d) } });
    let echoed = 0;
    const client = await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data: () => void echoed++ } });
    try {
      for (let i = 0; i < 20; i++) {
        client.write(`ping ${i}`);
        await waitFor("the echo", () => echoed > i);
      }
      const clientPort = client.localPort;
      const rows = rtt.drain();
      const C = SOCK_CONNECTION.fields;
      const R = RTT_RECORD.fields;
      const kv = new DataView(rows.keys.buffer, rows.keys.byteOffset);
      const rv = new DataView(rows.records.buffer, rows.records.byteOffset);
      const ours = [];
      for (let i = 0; i < rows.count; i++) {
        const k = i * SOCK_CONNECTION.size;
        const local = kv.getUint16(k + C.local_port.offset, true);
        const remote = kv.getUint16(k + C.remote_port.offset, true);
        if (!(local === clientPort && remote === server.port) && !(local === server.port && remote === clientPort)) continue;
        const at = i * RTT_RECORD.size;
        ours.push({
          local,
          remote,
          netns: kv.getBigUint64(k + C.netns_cookie.offset, true),
          protocol: rows.keys[k + C.protocol.offset],
          localIp: [...rows.keys.subarray(k + C.local_ip.offset, k + C.local_ip.offset + 16)],
          remoteIp: [...rows.keys.subarray(k + C.remote_ip.offset, k + C.remote_ip.offset + 16)],
          latest: Number(rv.getBigUint64(at + R.latest_ns.offset, true)),
          min: Number(rv.getBigUint64(at + R.min_ns.offset, true)),
          max: Number(rv.getBigUint64(at + R.max_ns.offset, true)),
          samples: Number(rv.getBigUint64(at + R.samples.offset, true)),
        });
      }
      console.log(JSON.stringify(ours.map(({ localIp, remoteIp, ...o }) => ({ ...o, netns: String(o.netns) }))));
      // The client's socket; the server's accepted one too (it ACKs the echoes' data... and its echoes are ACKed).
      const clientSide = ours.find((o) => o.local === clientPort);
      expect(clientSide).toBeDefined();
      expect(clientSide!.netns).toBe(rtt.netnsCookie);
      expect(clientSide!.protocol).toBe(6);
      expect(clientSide!.localIp).toEqual([...LOOPBACK]);
      expect(clientSide!.remoteIp).toEqual([...LOOPBACK]);
      expect(clientSide!.samples).toBeGreaterThan(0);
      expect(clientSide!.latest).toBeGreaterThan(0);
      expect(clientSide!.min).toBeLessThanOrEqual(clientSide!.latest);
      expect(clientSide!.max).toBeGreaterThanOrEqual(clientSide!.latest);
      expect(clientSide!.latest).toBeLessThan(100e6); // loopback: well under 100 ms

      // The join: the client's egress and ingress flows of that 4-tuple; not UDP, not another port.
      const keys = [flowKey(1, 6, clientPort, server.port), flowKey(0, 6, server.port, clientPort), flowKey(1, 17, clientPort, server.port), flowKey(1, 6, clientPort, server.port + 1)];
      const flowKeys = new Uint8Array(keys.length * FLOW_KEY.size);
      keys.forEach((k, i) => flowKeys.set(k, i * FLOW_KEY.size));
      const column = joinRtt(rows, rtt.netnsCookie, flowKeys, keys.length)!;
      expect(column.get(0)?.latestNs).toBe(clientSide!.latest);
      expect(column.get(1)?.latestNs).toBe(clientSide!.latest);
      expect(column.get(2)).toBeUndefined();
      expect(column.get(3)).toBeUndefined();
      // Another namespace's connections never join.
      expect(joinRtt(rows, rtt.netnsCookie + 1n, flowKeys, keys.length)?.get(0)).toBeUndefined();
    } finally {
      client.end();
      server.stop(true);
    }
  });
});
