import { expect, test } from "bun:test";
import { parseIpAddress, parseIpPrefix, prefixContains } from "../../src/net/ip-prefix.ts";
import { ipv4, ipv6 } from "../api/flow-fixtures.ts";

test("addresses: IPv4 as IPv4-mapped, IPv6 with :: and an IPv4 tail", () => {
  expect(parseIpAddress("198.18.0.1")).toEqual(ipv4("198.18.0.1"));
  expect(parseIpAddress("fd00::1")).toEqual(ipv6("fd00:0:0:0:0:0:0:1"));
  expect(parseIpAddress("::")).toEqual(new Uint8Array(16));
  expect(parseIpAddress("1::")).toEqual(ipv6("1:0:0:0:0:0:0:0"));
  expect(parseIpAddress("2001:db8:0:0:1:0:0:1")).toEqual(ipv6("2001:db8:0:0:1:0:0:1"));
  expect(parseIpAddress("::ffff:198.18.0.1")).toEqual(ipv4("198.18.0.1"));
  expect(parseIpAddress("64:ff9b::192.0.2.33")).toEqual(ipv6("64:ff9b:0:0:0:0:c000:221"));
  for (const bad of ["", "1.2.3", "256.1.1.1", "fd00:::1", "fe80::1%eth0", "host.example", "1.2.3.4 "]) expect(parseIpAddress(bad)).toBeUndefined();
});

test("prefixes: bits counted over 16 bytes, host bits cleared", () => {
  expect(parseIpPrefix("10.1.2.3/8")).toEqual({ bytes: ipv4("10.0.0.0"), bits: 104 });
  expect(parseIpPrefix("192.0.2.7")).toEqual({ bytes: ipv4("192.0.2.7"), bits: 128 });
  expect(parseIpPrefix("fd00:ab::/8")).toEqual({ bytes: ipv6("fd00:0:0:0:0:0:0:0"), bits: 8 });
  expect(parseIpPrefix("fd00::1/127")).toEqual({ bytes: ipv6("fd00:0:0:0:0:0:0:0"), bits: 127 });
  for (const bad of ["10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/a"]) expect(parseIpPrefix(bad)).toBeUndefined();
});

test("containment at byte and bit boundaries", () => {
  const p = (t: string) => parseIpPrefix(t)!;
  expect(prefixContains(p("10.0.0.0/8"), ipv4("10.255.1.1"))).toBe(true);
  expect(prefixContains(p("10.0.0.0/8"), ipv4("11.0.0.0"))).toBe(false);
  expect(prefixContains(p("198.18.0.0/15"), ipv4("198.19.255.255"))).toBe(true);
  expect(prefixContains(p("198.18.0.0/15"), ipv4("198.20.0.0"))).toBe(false);
  expect(prefixContains(p("0.0.0.0/0"), ipv4("203.0.113.9"))).toBe(true);
  expect(prefixContains(p("0.0.0.0/0"), ipv6("fd00:0:0:0:0:0:0:1"))).toBe(false); // IPv4 prefixes match IPv4 only
  expect(prefixContains(p("fd00::/8"), ipv6("fdff:0:0:0:0:0:0:1"))).toBe(true);
  expect(prefixContains(p("fd00::/9"), ipv6("fd80:0:0:0:0:0:0:1"))).toBe(false);
  expect(prefixContains(p("::/0"), ipv6("2001:db8:0:0:0:0:0:1"))).toBe(true);
});

test("an address read in place at an offset (a row of flow keys)", () => {
  const rows = new Uint8Array(40);
  rows.set(ipv4("10.1.2.3"), 4);
  rows.set(ipv6("fd00:0:0:0:0:0:0:1"), 20);
  expect(prefixContains(parseIpPrefix("10.0.0.0/8")!, rows, 4)).toBe(true);
  expect(prefixContains(parseIpPrefix("10.0.0.0/8")!, rows, 20)).toBe(false);
  expect(prefixContains(parseIpPrefix("fd00::/16")!, rows, 20)).toBe(true);
  expect(prefixContains(parseIpPrefix("fd00::/16")!, rows, 0)).toBe(false);
});
