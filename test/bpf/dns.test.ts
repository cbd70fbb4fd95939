/**
 * DNS in the kernel (--enable-dns, bpf/dns.h), through BPF_PROG_TEST_RUN: a
 * query run through the egress program and its response through the ingress
 * one (both on the test-run device) are matched by id and 5-tuple; the
 * response's flow carries latency, id, flags and the name, joined at eviction.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { decodeQname, rcodeName } from "../../src/flow/flow-dns.ts";
import { kernelDescribe } from "../helpers/kernel-test.ts";
import { bytes, dnsMessage, ethernet, ipv4, ipv6, payload, TCP, tcp, udp } from "../helpers/packets.ts";
import { ProgramUnderTest } from "../helpers/test-run.ts";

const CLIENT = "198.18.0.1";
const SERVER = "198.18.0.2";
const FLAGS_QUERY = 0x0100; // RD
const FLAGS_NOERROR = 0x8180; // QR RD RA, RCODE 0
const FLAGS_NXDOMAIN = 0x8183; // QR RD RA, RCODE 3

let prog: ProgramUnderTest | undefined;
afterEach(() => {
  prog?.[Symbol.dispose]();
  prog = undefined;
});

/** A UDP/IPv4 frame carrying `message`. */
function v4(src: string, dst: string, sport: number, dport: number, message: number[]): Uint8Array {
  return bytes(ethernet(0x0800), ipv4({ protocol: 17, src, dst, payloadLength: 8 + message.length }), udp(sport, dport, message.length), message);
}
const query = (id: number, name: string, port = 53, sport = 40000) => v4(CLIENT, SERVER, sport, port, dnsMessage(id, FLAGS_QUERY, name));
const response = (id: number, flags: number, name: string, port = 53, dport = 40000) => v4(SERVER, CLIENT, port, dport, dnsMessage(id, flags, name));

async function evict() {
  const records = (await prog!.evict()).records;
  return {
    egress: records.filter((r) => r.direction === "egress"),
    ingress: records.filter((r) => r.direction === "ingress"),
  };
}

kernelDescribe("DNS tracking (BPF_PROG_TEST_RUN)", () => {
  test("a query and its response: the response's flow carries latency, id, flags, rcode and name; the query's flow none", async () => {
    prog = await ProgramUnderTest.load(1024, undefined, undefined, undefined, false, 1, { port: 53 });
    prog.run(query(0x1234, "example.com"), { egress: true });
    prog.run(response(0x1234, FLAGS_NOERROR, "example.com"));
    const { egress, ingress } = await evict();
    expect(egress).toHaveLength(1);
    expect(egress[0]!.dns).toBeUndefined();
    expect(egress[0]!.packets).toBe(1);
    expect(ingress).toHaveLength(1);
    const dns = ingress[0]!.dns!;
    expect(ingress[0]!.packets).toBe(1);
    expect({ id: dns.id, flags: dns.flags, name: dns.name, rcode: rcodeName(dns.flags) }).toEqual({ id: 0x1234, flags: FLAGS_NOERROR, name: "example.com", rcode: "NOERROR" });
    expect(dns.latencyNs).toBeGreaterThan(0);
    expect(dns.latencyNs).toBeLessThan(1e9);
    expect(prog.object.dns!.readCounters()).toEqual({ queries: 1, responses: 1, matched: 1, malformed: 0 });
    // Read and deleted: the next eviction has nothing.
    expect((await prog.evict()).records).toHaveLength(0);
  });

  test("a response with another id (or from another port pair) is not matched; the query still waits for its own", async () => {
    prog = await ProgramUnderTest.load(1024, undefined, undefined, undefined, false, 1, { port: 53 });
    prog.run(query(0x1111, "example.com"), { egress: true });
    prog.run(response(0x2222, FLAGS_NOERROR, "example.com"));
    prog.run(response(0x1111, FLAGS_NOERROR, "example.com", 53, 40001));
    let { ingress } = await evict();
    expect(ingress).toHaveLength(2);
    expect(ingress.every((r) => r.dns === undefined)).toBe(true);
    expect(prog.object.dns!.readCounters()).toEqual({ queries: 1, responses: 2, matched: 0, malformed: 0 });
    prog.run(response(0x1111, FLAGS_NOERROR, "example.com"));
    ({ ingress } = await evict());
    expect(ingress[0]!.dns?.id).toBe(0x1111);
    // Matched once: a duplicate response finds no query.
    prog.run(response(0x1111, FLAGS_NOERROR, "example.com"));
    ({ ingress } = await evict());
    expect(ingress[0]!.dns).toBeUndefined();
    expect(prog.object.dns!.readCounters().matched).toBe(1);
  });

  test("NXDOMAIN: the response code is the flags' low 4 bits", async () => {
    prog = await ProgramUnderTest.load(1024, undefined, undefined, undefined, false, 1, { port: 53 });
    prog.run(query(7, "no-such-name.invalid"), { egress: true });
    prog.run(response(7, FLAGS_NXDOMAIN, "no-such-name.invalid"));
    const { ingress } = await evict();
    expect(rcodeName(ingress[0]!.dns!.flags)).toBe("NXDOMAIN");
    expect(ingress[0]!.dns!.name).toBe("no-such-name.invalid");
  });

  test("a long name is cut at 64 bytes of QNAME; the cut label ends with …", async () => {
    prog = await ProgramUnderTest.load(1024, undefined, undefined, undefined, false, 1, { port: 53 });
    const name = `${"a".repeat(40)}.${"b".repeat(40)}.example`;
    prog.run(query(9, name), { egress: true });
    prog.run(response(9, FLAGS_NOERROR, name));
    const { ingress } = await evict();
    // 1 + 40 bytes of the first label, then 1 + 22 of the second's 40.
    expect(ingress[0]!.dns!.name).toBe(`${"a".repeat(40)}.${"b".repeat(22)}…`);
  });

  test("malformed: a datagram to port 53 shorter than the DNS header is counted in its flow and skipped", async () => {
    prog = await ProgramUnderTest.load(1024, undefined, undefined, undefined, false, 1, { port: 53 });
    prog.run(v4(CLIENT, SERVER, 40000, 53, payload(5)), { egress: true, times: 3 });
    prog.run(v4(CLIENT, SERVER, 40000, 9, payload(5)), { egress: true });
    const { egress } = await evict();
    expect(egress.map((r) => [r.dstPort, r.packets, r.dns]).sort()).toEqual([[53, 3, undefined], [9, 1, undefined]].sort());
    expect(prog.object.dns!.readCounters()).toEqual({ queries: 0, responses: 0, matched: 0, malformed: 3 });
  });

  test("--dns-port: another port is read; 53 is then not", async () => {
    prog = await ProgramUnderTest.load(1024, undefined, undefined, undefined, false, 1, { port: 5353 });
    prog.run(query(1, "a.example", 5353), { egress: true });
    prog.run(response(1, FLAGS_NOERROR, "a.example", 5353));
    prog.run(query(2, "b.example"), { egress: true });
    prog.run(response(2, FLAGS_NOERROR, "b.example"));
    const { ingress } = await evict();
    const bySport = new Map(ingress.map((r) => [r.srcPort, r.dns?.name]));
    expect(bySport).toEqual(new Map([[5353, "a.example"], [53, undefined]]));
  });

  test("IPv6", async () => {
    prog = await ProgramUnderTest.load(1024, undefined, undefined, undefined, false, 1, { port: 53 });
    const v6 = (src: string, dst: string, sport: number, dport: number, message: number[]) =>
      bytes(ethernet(0x86dd), ipv6({ nextHeader: 17, src, dst, payloadLength: 8 + message.length }), udp(sport, dport, message.length), message);
    prog.run(v6("2001:db8::1", "2001:db8::2", 40000, 53, dnsMessage(3, FLAGS_QUERY, "v6.example")), { egress: true });
    prog.run(v6("2001:db8::2", "2001:db8::1", 53, 40000, dnsMessage(3, FLAGS_NOERROR, "v6.example")));
    const { ingress } = await evict();
    expect(ingress[0]!.dns?.name).toBe("v6.example");
  });

  test("TCP: the message after its 2-byte length; the handshake and bare ACKs are neither DNS nor malformed", async () => {
    prog = await ProgramUnderTest.load(1024, undefined, undefined, undefined, false, 1, { port: 53 });
    const overTcp = (src: string, dst: string, sport: number, dport: number, message: number[]) => {
      const body = message.length ? [(message.length >> 8) & 0xff, message.length & 0xff, ...message] : [];
      return bytes(ethernet(0x0800), ipv4({ protocol: 6, src, dst, payloadLength: 20 + body.length }), tcp(sport, dport, TCP.ACK | (body.length ? TCP.PSH : 0)), body);
    };
    prog.run(overTcp(CLIENT, SERVER, 40000, 53, []), { egress: true }); // a bare ACK (padded to 60 bytes on a wire)
    prog.run(overTcp(CLIENT, SERVER, 40000, 53, dnsMessage(0x77, FLAGS_QUERY, "tcp.example")), { egress: true });
    prog.run(overTcp(SERVER, CLIENT, 53, 40000, []));
    prog.run(overTcp(SERVER, CLIENT, 53, 40000, dnsMessage(0x77, FLAGS_NXDOMAIN, "tcp.example")));
    const { ingress } = await evict();
    expect(ingress).toHaveLength(1);
    expect(ingress[0]!.packets).toBe(2);
    expect({ ...ingress[0]!.dns!, latencyNs: 0 }).toEqual({ id: 0x77, flags: FLAGS_NXDOMAIN, latencyNs: 0, name: "tcp.example" });
    expect(prog.object.dns!.readCounters()).toEqual({ queries: 1, responses: 1, matched: 1, malformed: 0 });
  });

  test("off (the default): nothing is read, no DNS maps are held", async () => {
    prog = await ProgramUnderTest.load(1024);
    prog.run(query(1, "example.com"), { egress: true });
    prog.run(response(1, FLAGS_NOERROR, "example.com"));
    const { ingress } = await evict();
    expect(ingress[0]!.dns).toBeUndefined();
    expect(prog.object.dns).toBeUndefined();
  });
});

describe("QNAME decoding", () => {
  const wire = (...parts: (string | number[])[]) => new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [p.length, ...new TextEncoder().encode(p)] : p)));
  test("labels, the root, escapes", () => {
    expect(decodeQname(wire("www", "example", "com", [0]))).toBe("www.example.com");
    expect(decodeQname(wire([0]))).toBe("");
    expect(decodeQname(wire("a.b", [0]))).toBe("a\\046b");
  });
  test("cut by the bound: inside a label, or between labels", () => {
    expect(decodeQname(wire("example", "co").subarray(0, 10))).toBe("example.c…");
    expect(decodeQname(wire("example"))).toBe("example.…");
  });
  test("a compression pointer ends the name", () => {
    expect(decodeQname(wire("x", [0xc0, 12]))).toBe("x.…");
  });
  test("rcode names", () => {
    expect([0x8180, 0x8183, 0x8182, 0x8185, 0x800f].map(rcodeName)).toEqual(["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "RCODE15"]);
  });
});
