/**
 * The filter rule grammar (src/filter/filter-rule.ts), the trie entries it
 * becomes (filter-trie.ts), and the flags (src/cli/filter-options.ts): every
 * bad rule is one line naming the rule and what is wrong, exit 2.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFilterConfig } from "../../src/cli/filter-options.ts";
import { ConfigError } from "../../src/config-error.ts";
import { defaultFilterAction, filterFileRules, parseFilterRule, parseFilterRules } from "../../src/filter/filter-rule.ts";
import { filterSides, filterTrieEntries } from "../../src/filter/filter-trie.ts";
import { cliPath } from "../helpers/agent-process.ts";

const v4 = (a: number, b: number, c: number, d: number) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d]);

describe("parseFilterRule: the grammar", () => {
  test("every field", () => {
    const rule = parseFilterRule("  accept   cidr=198.18.0.0/16 proto=udp port=53 dir=ingress sample=10 ", 4);
    expect(rule).toEqual({
      id: 4,
      text: "accept cidr=198.18.0.0/16 proto=udp port=53 dir=ingress sample=10",
      action: "accept",
      cidr: { side: "either", prefix: { bytes: v4(198, 18, 0, 0), bits: 112 }, family: 4, text: "198.18.0.0/16" },
      protocol: 17,
      port: { min: 53, max: 53 },
      direction: "ingress",
      sample: 10,
    });
  });

  test("src=/dst=, IPv6, port ranges, src-port with dst-port, ICMP type and code, numeric protocols", () => {
    expect(parseFilterRule("reject src=fd00::/8 src-port=1000-2000 dst-port=53", 0)).toMatchObject({
      cidr: { side: "src", family: 6, prefix: { bits: 8 } },
      srcPort: { min: 1000, max: 2000 },
      dstPort: { min: 53, max: 53 },
    });
    expect(parseFilterRule("reject dst=198.18.0.1 icmp-type=8 icmp-code=0", 0)).toMatchObject({ cidr: { side: "dst", prefix: { bits: 128 } }, icmpType: 8, icmpCode: 0 });
    expect(parseFilterRule("accept proto=47", 0).protocol).toBe(47);
    expect(parseFilterRule("accept proto=icmpv6 icmp-type=128", 0)).toMatchObject({ protocol: 58, icmpType: 128 });
    expect(parseFilterRule("reject port=0-65535", 0).port).toEqual({ min: 0, max: 65535 });
    expect(parseFilterRule("reject", 0)).toEqual({ id: 0, text: "reject", action: "reject" });
  });

  test.each([
    ["", "empty rule (a rule starts with accept or reject)"],
    ["allow cidr=198.18.0.0/16", `"allow" must be accept or reject (a rule starts with its action)`],
    ["accept cidr=198.18.0.0/33", `cidr "198.18.0.0/33" is not an IPv4 or IPv6 CIDR (examples: 198.18.0.0/15, fd00::/8, 198.18.0.1)`],
    ["accept cidr=198.18.0.1/16", `cidr "198.18.0.1/16" has host bits set (the network is 198.18.0.0/16)`],
    ["accept src=fd00::1/8", `src "fd00::1/8" has host bits set (the network is fd00::/8)`],
    ["accept dst=fd00:0:0:1::1:0/64", `dst "fd00:0:0:1::1:0/64" has host bits set (the network is fd00:0:0:1::/64)`],
    ["accept cidr=fd00::/8 src=fd00::/16", "src and cidr: at most one of cidr, src, dst per rule"],
    ["accept port=53 port=54", "port is given twice"],
    ["accept ports=1000-2000", "unknown field \"ports\" (fields: cidr, src, dst, proto, port, src-port, dst-port, dir, icmp-type, icmp-code, sample)"],
    ["accept cidr", "cidr needs a value (cidr=...)"],
    ["accept proto=gre", `proto "gre" must be tcp, udp, udplite, sctp, icmp, icmpv6 or a number 0-255`],
    ["accept proto=256", `proto "256" must be tcp, udp, udplite, sctp, icmp, icmpv6 or a number 0-255`],
    ["accept port=70000", `port "70000" must be a port 0-65535 or a range like 1000-2000`],
    ["accept port=2000-1000", `port "2000-1000": the range's start must be <= its end`],
    ["accept dst-port=http", `dst-port "http" must be a port 0-65535 or a range like 1000-2000`],
    ["accept port=53 src-port=1000", "port and src-port: use port (either port) or src-port/dst-port, not both"],
    ["accept proto=icmp port=53", "port needs proto tcp, udp, udplite or sctp (proto=icmp has no ports)"],
    ["accept proto=tcp icmp-type=8", "icmp-type needs proto icmp or icmpv6 (not proto=tcp)"],
    ["accept port=53 icmp-type=8", "port and icmp-type: ICMP has no ports"],
    ["accept cidr=fd00::/8 proto=icmp", "proto=icmp never matches an IPv6 cidr (ICMP for IPv6 is icmpv6)"],
    ["accept cidr=198.18.0.0/15 proto=icmpv6", "proto=icmpv6 never matches an IPv4 cidr (use icmp)"],
    ["accept dir=in", `dir "in" must be ingress or egress`],
    ["accept icmp-type=300", "icmp-type 300 must be >= 0 and <= 255"],
    ["accept icmp-code=x", `icmp-code "x" is not a whole number`],
    ["accept sample=0", "sample 0 must be >= 1 and <= 2147483648"],
    ["reject sample=10", "sample applies to accept rules (a rejected packet is not counted at all)"],
  ])("%j → %s", (text, message) => {
    expect(() => parseFilterRule(text, 0)).toThrow(message);
  });
});

describe("rules from flags and files", () => {
  test("numbered in order; an error names where the rule came from", () => {
    const rules = parseFilterRules([
      { text: "reject port=53", source: { flag: "--filter" } },
      { text: "accept", source: { file: "r.txt", line: 3 } },
    ]);
    expect(rules.map((r) => [r.id, r.text])).toEqual([[0, "reject port=53"], [1, "accept"]]);
    expect(() => parseFilterRules([{ text: "reject port=x", source: { flag: "--filter" } }])).toThrow(
      new ConfigError(`--filter "reject port=x": port "x" must be a port 0-65535 or a range like 1000-2000`),
    );
    expect(() => parseFilterRules([{ text: " accept  dir=up ", source: { file: "/etc/r.txt", line: 7 } }])).toThrow(
      new ConfigError(`--filter-file /etc/r.txt line 7 "accept  dir=up": dir "up" must be ingress or egress`),
    );
  });

  test("a file: one rule per line, # comments whole or trailing, blank lines skipped, line numbers kept", () => {
    expect(filterFileRules("f", "# allow DNS only\n\naccept port=53  # both ways\n  reject\n")).toEqual([
      { text: "accept port=53", source: { file: "f", line: 3 } },
      { text: "reject", source: { file: "f", line: 4 } },
    ]);
  });

  test("the default action: reject when an accept rule exists, else accept; --filter-default overrides", () => {
    const only = (...texts: string[]) => parseFilterRules(texts.map((text) => ({ text, source: { flag: "--filter" } })));
    expect(defaultFilterAction(only("reject port=53"))).toBe("accept");
    expect(defaultFilterAction(only("reject port=53", "accept cidr=198.18.0.0/15"))).toBe("reject");
    expect(defaultFilterAction(only("accept cidr=198.18.0.0/15"), "accept")).toBe("accept");
  });

  test("more than 256 rules, or more than 16 covering one address, are refused", () => {
    const many = Array.from({ length: 257 }, (_, i) => ({ text: `reject port=${i}`, source: { flag: "--filter" } }));
    expect(() => parseFilterRules(many)).toThrow("--filter: 257 rules, at most 256");
    const overlapping = parseFilterRules(Array.from({ length: 17 }, (_, i) => ({ text: `reject dir=ingress src=198.18.0.0/${16 + i}`, source: { flag: "--filter" } })));
    expect(() => filterTrieEntries(overlapping)).toThrow(
      "--filter: 17 rules apply to the addresses of #17 reject dir=ingress src=198.18.0.0/32 (ingress, source side), at most 16 may cover one address",
    );
  });
});

describe("filterTrieEntries: what the kernel looks up", () => {
  const rules = parseFilterRules(
    ["reject cidr=198.18.0.0/15", "accept dir=egress src=198.18.5.0/24", "reject port=53", "accept cidr=198.18.5.0/24 proto=tcp"].map((text) => ({ text, source: { flag: "--filter" } })),
  );
  const entries = filterTrieEntries(rules);
  const chain = (direction: string, side: string, bits: number) =>
    entries.find((e) => e.direction === direction && e.side === side && e.prefix.bits === bits)?.rules.map((r) => r.id);

  test("one entry per (direction, side, CIDR); a rule without CIDR sits at /0 on the source side", () => {
    expect(entries.map((e) => `${e.direction} ${e.side} /${e.prefix.bits}`).sort()).toEqual([
      "egress dst /111", "egress dst /120", "egress src /0", "egress src /111", "egress src /120",
      "ingress dst /111", "ingress dst /120", "ingress src /0", "ingress src /111", "ingress src /120",
    ]);
  });

  test("each chain: its own and every covering rule, longest prefix first, then the order given", () => {
    expect(chain("egress", "src", 120)).toEqual([1, 3, 0, 2]);
    expect(chain("ingress", "src", 120)).toEqual([3, 0, 2]);
    expect(chain("ingress", "dst", 120)).toEqual([3, 0]);
    expect(chain("ingress", "src", 111)).toEqual([0, 2]);
    expect(chain("ingress", "src", 0)).toEqual([2]);
  });

  test("filterSides: a bit per (direction, side) with an entry, direction × 2 + side", () => {
    expect(filterSides(entries)).toBe(0b1111);
  });

  test("a rule without CIDR sits on the destination side where only destinations are named: one side, one lookup", () => {
    const oneSided = filterTrieEntries(
      parseFilterRules(["accept dst=198.18.0.0/15", "reject proto=udp", "reject dir=egress src=10.0.0.0/8"].map((text) => ({ text, source: { flag: "--filter" } }))),
    );
    expect(oneSided.map((e) => `${e.direction} ${e.side} /${e.prefix.bits} [${e.rules.map((r) => r.id)}]`).sort()).toEqual([
      "egress dst /111 [0]", "egress src /0 [1]", "egress src /104 [2,1]",
      "ingress dst /0 [1]", "ingress dst /111 [0,1]",
    ]);
    expect(filterSides(oneSided)).toBe(0b1110);
    expect(filterSides(filterTrieEntries(parseFilterRules([{ text: "reject proto=udp", source: { flag: "--filter" } }])))).toBe(0b0101);
  });
});

describe("--filter, --filter-file, --filter-default", () => {
  test("no rule: no filter at all", () => {
    expect(buildFilterConfig({})).toBeUndefined();
    expect(() => buildFilterConfig({ filterDefault: "reject" })).toThrow("--filter-default applies to filter rules, and no --filter or --filter-file rule is given");
  });

  test("repeated flags and ';' keep their order, then the file's lines", () => {
    const dir = mkdtempSync(join(tmpdir(), "netflow-filter-"));
    try {
      writeFileSync(join(dir, "rules"), "# file\naccept proto=icmp\n");
      const config = buildFilterConfig({ filter: ["reject port=53; reject port=54", "accept cidr=fd00::/8"], filterFile: join(dir, "rules") })!;
      expect(config.rules.map((r) => `${r.id} ${r.text}`)).toEqual(["0 reject port=53", "1 reject port=54", "2 accept cidr=fd00::/8", "3 accept proto=icmp"]);
      expect(config.defaultAction).toBe("reject");
      expect(buildFilterConfig({ filter: ["accept port=53"], filterDefault: "accept" })!.defaultAction).toBe("accept");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    [{ filter: ["reject port=53", "block port=54"] }, `--filter "block port=54": "block" must be accept or reject (a rule starts with its action)`],
    [{ filterFile: "/nonexistent/rules" }, "--filter-file /nonexistent/rules: cannot read it (ENOENT)"],
    [{ filter: ["reject"], filterDefault: "drop" }, `--filter-default "drop" must be one of: accept, reject`],
  ])("%j → %s", (flags, message) => {
    expect(() => buildFilterConfig(flags)).toThrow(message);
  });
});

describe("through the real CLI: one line, exit 2", () => {
  async function run(args: string[], env: Record<string, string> = {}) {
    const proc = Bun.spawn([process.execPath, cliPath, "run", "--api", "off", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...env } });
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    return { code, stdout, stderr };
  }

  test("a bad --filter rule", async () => {
    expect(await run(["--filter", "accept cidr=198.18.0.0/16", "--filter", "reject cidr=198.18.0.1/16 port=53"])).toEqual({
      code: 2,
      stdout: "",
      stderr: `netflow-agent: error: --filter "reject cidr=198.18.0.1/16 port=53": cidr "198.18.0.1/16" has host bits set (the network is 198.18.0.0/16)\n`,
    });
  });

  test("a bad line of --filter-file, named by its line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "netflow-filter-"));
    try {
      const file = join(dir, "rules.txt");
      writeFileSync(file, "# DNS only\naccept proto=udp port=53\naccept proto=icmp port=53\n");
      expect(await run(["--filter-file", file])).toEqual({
        code: 2,
        stdout: "",
        stderr: `netflow-agent: error: --filter-file ${file} line 3 "accept proto=icmp port=53": port needs proto tcp, udp, udplite or sctp (proto=icmp has no ports)\n`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("NETFLOW_FILTER, rules separated by ';', validated the same way", async () => {
    expect(await run([], { NETFLOW_FILTER: "reject port=53; reject dir=sideways" })).toEqual({
      code: 2,
      stdout: "",
      stderr: `netflow-agent: error: --filter "reject dir=sideways": dir "sideways" must be ingress or egress\n`,
    });
  });

  test("--help documents the flags and the grammar", async () => {
    const proc = Bun.spawn([process.execPath, cliPath, "run", "--help"], { stdout: "pipe", env: { ...process.env, COLUMNS: "200" } });
    const help = await new Response(proc.stdout).text();
    for (const text of ["--filter <rule>", "--filter-file <path>", "--filter-default <action>", "env: NETFLOW_FILTER)", "cidr=CIDR", "icmp-type=N", "the first given"])
      expect(help).toContain(text);
  });
});
