import { expect, test } from "bun:test";
import { ConfigError } from "../../src/config-error.ts";
import { interfaceFilter, InterfacePatternError, selectionText, splitInterfaceList } from "../../src/agent/interface-filter.ts";

test("no lists: every interface", () => {
  const f = interfaceFilter(undefined, undefined);
  expect(["lo", "eth0", "veth1234"].every(f)).toBe(true);
});

test("names and /regex/, include then exclude", () => {
  const f = interfaceFilter("eth0, /^veth/", "/^veth9/");
  expect(["eth0", "veth1", "veth9a", "eth1", "lo"].map(f)).toEqual([true, true, false, false, false]);
});

test("a comma inside a /regex/ does not split the list", () => {
  expect(splitInterfaceList("--interfaces", "/^en(p|s)[0-9]{1,3}/")).toEqual(["/^en(p|s)[0-9]{1,3}/"]);
  expect(splitInterfaceList("--interfaces", " eth0 , /a{1,2}/ ,/[,/]x/, lo,")).toEqual(["eth0", "/a{1,2}/", "/[,/]x/", "lo"]);
  // An escaped slash does not close the pattern either.
  expect(splitInterfaceList("--interfaces", "/a\\/b,c/,eth1")).toEqual(["/a\\/b,c/", "eth1"]);
  const f = interfaceFilter("/^en(p|s)[0-9]{1,3}/", undefined);
  expect(["enp3", "ens160", "enx1", "eth0"].map(f)).toEqual([true, true, false, false]);
  const g = interfaceFilter(undefined, "/^veth[0-9]{1,2}$/, lo");
  expect(["veth1", "veth123", "lo", "eth0"].map(g)).toEqual([false, true, false, true]);
});

test("bad entries: the flag, the entry and what is allowed", () => {
  const error = (include?: string, exclude?: string) => {
    try {
      interfaceFilter(include, exclude);
    } catch (e) {
      expect(e).toBeInstanceOf(InterfacePatternError);
      expect(e).toBeInstanceOf(ConfigError); // exit 2, like every bad flag
      return (e as Error).message;
    }
    throw new Error("no error");
  };
  expect(error("/(/")).toBe("--interfaces: /(/ is not a valid regular expression (missing ))");
  expect(error(undefined, "eth0,/(/")).toBe("--exclude-interfaces: /(/ is not a valid regular expression (missing ))");
  expect(error("this-name-is-far-too-long")).toBe(
    '--interfaces: "this-name-is-far-too-long" is not an interface name (1-15 characters, no spaces or slashes; use /regex/ for patterns)',
  );
  expect(error(undefined, "eth 0")).toBe('--exclude-interfaces: "eth 0" is not an interface name (1-15 characters, no spaces or slashes; use /regex/ for patterns)');
  expect(error("/[/")).toBe('--interfaces: "/[/" has no closing "/" (a "/" after "\\" or inside [...] does not end a /regex/)');
  expect(error("/^eth/i")).toBe('--interfaces: "i" follows /^eth/; separate entries with "," (regex flags are not supported)');
  expect(error("eth0,//")).toBe("--interfaces: // matches every interface; leave --interfaces out for that");
});

test("the selection named in messages", () => {
  expect(selectionText("/^en(p|s)[0-9]{1,3}/", undefined)).toBe("--interfaces '/^en(p|s)[0-9]{1,3}/'");
  expect(selectionText("eth0", "/^veth/")).toBe("--interfaces 'eth0' --exclude-interfaces '/^veth/'");
  expect(selectionText(undefined, "lo")).toBe("--exclude-interfaces 'lo'");
});
