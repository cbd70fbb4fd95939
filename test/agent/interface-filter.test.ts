import { expect, test } from "bun:test";
import { interfaceFilter } from "../../src/agent/interface-filter.ts";

test("no lists: every interface", () => {
  const f = interfaceFilter(undefined, undefined);
  expect(["lo", "eth0", "veth1234"].every(f)).toBe(true);
});

test("names and /regex/, include then exclude", () => {
  const f = interfaceFilter("eth0, /^veth/", "/^veth9/");
  expect(["eth0", "veth1", "veth9a", "eth1", "lo"].map(f)).toEqual([true, true, false, false, false]);
});

test("bad patterns name the pattern", () => {
  expect(() => interfaceFilter("/(/", undefined)).toThrow("interface pattern /(/ is not a valid regular expression");
  expect(() => interfaceFilter("this-name-is-far-too-long", undefined)).toThrow('interface name "this-name-is-far-too-long" is not valid');
});
