/**
 * TCP RTT per flow (--enable-rtt): the kernel's tcp_rtt records (bpf/rtt.h),
 * one per connection of any namespace, joined to an eviction's TCP flows by
 * 4-tuple, as a sparse column beside FlowColumns.
 *
 * A record is the connection as its socket sees it (local, remote): the
 * egress flow has local = source, the ingress flow local = destination, so
 * both directions of a connection carry its RTT. Only connections of the
 * agent's network namespace join (its flows are its devices' packets); a
 * connection without a sample in the interval has no RTT in it.
 */
import { FLOW_KEY, RTT_RECORD, SOCK_CONNECTION } from "../bpf/flow-layout.ts";
import type { RttRows } from "../bpf/rtt-maps.ts";

/** A connection's smoothed RTT (srtt, RFC 6298) over the interval, as its socket saw it. */
export interface FlowRtt {
  /** After the interval's last sample, ns. */
  latestNs: number;
  minNs: number;
  maxNs: number;
}

const TCP = 6;
const EGRESS = 1;

/** local address, remote address (16 bytes each), local port, remote port (2 each, little-endian) as a Map key. */
function tupleString(bytes: Uint8Array, localIp: number, remoteIp: number, localPort: number, remotePort: number): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += String.fromCharCode(bytes[localIp + i]!);
  for (let i = 0; i < 16; i++) s += String.fromCharCode(bytes[remoteIp + i]!);
  return s + String.fromCharCode(bytes[localPort]!, bytes[localPort + 1]!, bytes[remotePort]!, bytes[remotePort + 1]!);
}

/**
 * `rows`: this drain of tcp_rtt; `netnsCookie`: the agent's namespace.
 * `flowKeys`/`count`: the eviction's flow keys. Returns the RTT column, or
 * undefined when no flow has one.
 */
export function joinRtt(rows: RttRows, netnsCookie: bigint, flowKeys: Uint8Array, count: number): ReadonlyMap<number, FlowRtt> | undefined {
  const C = SOCK_CONNECTION.fields;
  const R = RTT_RECORD.fields;
  const keyView = new DataView(rows.keys.buffer, rows.keys.byteOffset, rows.keys.byteLength);
  const view = new DataView(rows.records.buffer, rows.records.byteOffset, rows.records.byteLength);
  const byTuple = new Map<string, FlowRtt>();
  for (let i = 0; i < rows.count; i++) {
    const k = i * SOCK_CONNECTION.size;
    if (keyView.getBigUint64(k + C.netns_cookie.offset, true) !== netnsCookie) continue;
    const at = i * RTT_RECORD.size;
    byTuple.set(tupleString(rows.keys, k + C.local_ip.offset, k + C.remote_ip.offset, k + C.local_port.offset, k + C.remote_port.offset), {
      latestNs: Number(view.getBigUint64(at + R.latest_ns.offset, true)),
      minNs: Number(view.getBigUint64(at + R.min_ns.offset, true)),
      maxNs: Number(view.getBigUint64(at + R.max_ns.offset, true)),
    });
  }
  if (byTuple.size === 0) return undefined;
  const F = FLOW_KEY.fields;
  const byRow = new Map<number, FlowRtt>();
  for (let row = 0; row < count; row++) {
    const k = row * FLOW_KEY.size;
    if (flowKeys[k + F.protocol.offset] !== TCP) continue;
    const tuple =
      flowKeys[k + F.direction.offset] === EGRESS
        ? tupleString(flowKeys, k + F.src_ip.offset, k + F.dst_ip.offset, k + F.src_port.offset, k + F.dst_port.offset)
        : tupleString(flowKeys, k + F.dst_ip.offset, k + F.src_ip.offset, k + F.dst_port.offset, k + F.src_port.offset);
    const rtt = byTuple.get(tuple);
    if (rtt) byRow.set(row, rtt);
  }
  return byRow.size ? byRow : undefined;
}
