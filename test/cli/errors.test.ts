/**
 * What a user sees when something is wrong: one line on stderr, and exit code
 * 2 for bad usage or configuration, 1 for runtime failures.
 */
import { describe, expect, test } from "bun:test";
import { cliPath } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";

async function cli(args: string[], env: Record<string, string> = {}, prefix: string[] = []) {
  const proc = Bun.spawn([...prefix, process.execPath, cliPath, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code, lines: stderr.trim().split("\n").filter(Boolean) };
}

describe("bad flags: one line, exit 2", () => {
  const cases: [string[], string][] = [
    [["run", "--bogus"], "netflow-agent: error: unknown option '--bogus'"],
    [["run", "--cache-max-flows", "0"], "netflow-agent: error: --cache-max-flows 0 must be >= 16 and <= 16777216"],
    [["run", "--cache-min-flows", "8192", "--cache-max-flows", "4096"], "netflow-agent: error: --cache-min-flows 8192 must be <= --cache-max-flows 4096"],
    [["run", "--cache-max-flows", "many"], 'netflow-agent: error: --cache-max-flows "many" is not a whole number'],
    [["run", "--cache-active-timeout", "5 parsecs"], 'netflow-agent: error: --cache-active-timeout "5 parsecs" is not a duration (examples: 500ms, 5s, 1m)'],
    [["run", "--cache-active-timeout", "10ms"], "netflow-agent: error: --cache-active-timeout 10ms must be >= 100ms and <= 3600000ms"],
    [["run", "--attach-mode", "xdp"], 'netflow-agent: error: --attach-mode "xdp" must be one of: auto, tcx, tc'],
    [["run", "--output", "yaml"], 'netflow-agent: error: --output "yaml" must be one of: json, text'],
    [["run", "--interfaces", "/[/"], 'netflow-agent: error: --interfaces: "/[/" has no closing "/" (a "/" after "\\" or inside [...] does not end a /regex/)'],
    [["run", "--interfaces", "/^en(p|s[0-9]{1,3}/"], "netflow-agent: error: --interfaces: /^en(p|s[0-9]{1,3}/ is not a valid regular expression (missing ))"],
    [["run", "--exclude-interfaces", "eth0,/(/"], "netflow-agent: error: --exclude-interfaces: /(/ is not a valid regular expression (missing ))"],
    [["top", "--once", "-i", "/^eth/g"], 'netflow-agent: error: --interfaces: "g" follows /^eth/; separate entries with "," (regex flags are not supported)'],
    [["run", "--sampling", "0"], "netflow-agent: error: --sampling 0 must be >= 1 and <= 2147483648"],
    [["run", "--sampling", "1/100"], 'netflow-agent: error: --sampling "1/100" is not a whole number'],
    [["frobnicate"], "netflow-agent: error: unknown command 'frobnicate'"],
  ];
  for (const [args, message] of cases)
    test(args.join(" "), async () => {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.lines).toHaveLength(1);
      expect(r.lines[0]).toStartWith(message);
    });

  test("flags also come from NETFLOW_* variables, validated the same way", async () => {
    const r = await cli(["run"], { NETFLOW_CACHE_MAX_FLOWS: "-3" });
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(['netflow-agent: error: --cache-max-flows "-3" is not a whole number']);
  });

  test("NETFLOW_SAMPLING is --sampling", async () => {
    const r = await cli(["run"], { NETFLOW_SAMPLING: "4294967296" });
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(["netflow-agent: error: --sampling 4294967296 must be >= 1 and <= 2147483648"]);
  });

  test("NETFLOW_ENABLE_DNS is --enable-dns; --dns-port is checked when it is on", async () => {
    const bad = await cli(["run"], { NETFLOW_ENABLE_DNS: "maybe" });
    expect([bad.code, bad.lines]).toEqual([2, ['netflow-agent: error: --enable-dns "maybe" must be true or false']]);
    const port = await cli(["run", "--enable-dns", "--dns-port", "0"]);
    expect([port.code, port.lines]).toEqual([2, ["netflow-agent: error: --dns-port 0 must be >= 1 and <= 65535"]]);
  });

  test("NETFLOW_ENABLE_RTT is --enable-rtt", async () => {
    const bad = await cli(["run"], { NETFLOW_ENABLE_RTT: "maybe" });
    expect([bad.code, bad.lines]).toEqual([2, ['netflow-agent: error: --enable-rtt "maybe" must be true or false']]);
  });
});

kernelTest("libbpf missing: one line naming it and the fix, exit 1", async () => {
  // --api off: the API's port is bound before loading, and another agent may hold the default one.
  const r = await cli(["run", "--api", "off"], { NETFLOW_LIBBPF: "/nonexistent/libbpf.so.1" });
  expect(r.code).toBe(1);
  expect(r.lines).toEqual([
    "netflow-agent: error: loading /nonexistent/libbpf.so.1: libbpf is not installed or too old (need libbpf 1.1 or newer) — install it: apt-get install libbpf1",
  ]);
});

kernelTest("no privilege: one line saying what is needed, exit 1", async () => {
  const r = await cli(["run", "--api", "off"], {}, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]);
  expect(r.code).toBe(1);
  expect(r.lines).toEqual([
    "netflow-agent: error: loading BPF programs: this process lacks CAP_BPF and CAP_NET_ADMIN — needs root, or CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN instead of CAP_BPF on kernels before 5.8; CAP_PERFMON is not needed): run it with sudo, or grant those capabilities",
  ]);
});

test("version prints this build, libbpf and the kernel", async () => {
  const r = await cli(["version"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^netflow-agent \d+\.\d+\.\d+\nlibbpf v1\.\d+ system \(\/\S+\)\nkernel \S+\nbun \S+\n$/);
});

test("--help documents every run flag with its variable", async () => {
  const r = await cli(["run", "--help"]);
  expect(r.code).toBe(0);
  for (const flag of ["--interfaces", "--exclude-interfaces", "--attach-mode", "--cache-max-flows", "--cache-active-timeout", "--interface-poll-interval", "--output", "--log-level"])
    expect(r.stdout).toContain(flag);
  expect(r.stdout).toContain("NETFLOW_CACHE_ACTIVE_TIMEOUT");
});
