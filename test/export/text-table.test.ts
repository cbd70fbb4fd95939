import { expect, test } from "bun:test";
import { formatTable } from "../../src/export/text-table.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";

const mapped = (a: number, b: number, c: number, d: number) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, a, b, c, d]);
const base: FlowRecord = {
  ifindex: 2, interface: "eth0", direction: "egress", ethType: 0x0800, protocol: 6,
  srcAddr: mapped(198, 18, 0, 1), dstAddr: mapped(198, 18, 0, 2), srcPort: 40000, dstPort: 443,
  packets: 12, bytes: 3456, startMs: Date.UTC(2026, 10, 25, 12), endMs: Date.UTC(2026, 10, 25, 12, 0, 1, 250),
  tcpFlags: 0x12, dscp: 0, icmpType: 0, icmpCode: 0, srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), flags: 0,
};

test("--output text: aligned columns, right-aligned counts, IPv6 endpoints in brackets", () => {
  const v6 = new Uint8Array(16);
  v6[0] = 0xfd;
  v6[15] = 1;
  const table = formatTable([
    base,
    { ...base, interface: "veth-long-name", direction: "ingress", ethType: 0x86dd, protocol: 17, srcAddr: v6, dstAddr: v6, srcPort: 53, dstPort: 5353, packets: 1, bytes: 90, tcpFlags: 0 },
    { ...base, ethType: 0x0806, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16), srcPort: 0, dstPort: 0, packets: 3, bytes: 126, tcpFlags: 0 },
  ]);
  expect(table).toBe(
    [
      "TIME          IFACE           DIR  PROTO  SOURCE            DESTINATION     PACKETS  BYTES  FLAGS",
      "12:00:01.250  eth0            out  TCP    198.18.0.1:40000  198.18.0.2:443       12   3456  SYN,ACK",
      "12:00:01.250  veth-long-name  in   UDP    [fd00::1]:53      [fd00::1]:5353        1     90",
      "12:00:01.250  eth0            out  ARP    -                 -                     3    126",
      "",
    ].join("\n"),
  );
});
