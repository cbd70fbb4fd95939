import { describe, expect, test } from "bun:test";
import { buildTopConfig, TOP_DEFAULTS, type TopFlags } from "../../src/cli/top-config.ts";
import { cliPath } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";

const flags = (over: Partial<TopFlags> = {}): TopFlags => ({ ...TOP_DEFAULTS, attachMode: "auto", cacheMaxFlows: "32768", ...over });

describe("top configuration", () => {
  test("defaults: local, 1 s, flows by the 2 s rate", () => {
    const config = buildTopConfig(flags());
    expect(config.intervalMs).toBe(1000);
    expect(config.agent.activeTimeoutMs).toBe(1000);
    expect(config.once).toBe(false);
    expect(config.connect).toBeUndefined();
    expect(config.view).toMatchObject({ grouping: "flow", sort: "2s", reverse: false, filter: "", units: "bytes", resolveNames: false });
  });

  test("initial view from flags", () => {
    const config = buildTopConfig(flags({ interval: "250ms", sort: "bytes", reverse: true, group: "port", filter: "udp", units: "bits", resolve: true, connect: "[::1]:9090" }));
    expect(config.intervalMs).toBe(250);
    expect(config.connect).toBe("[::1]:9090");
    expect(config.view).toMatchObject({ grouping: "port", sort: "bytes", reverse: true, filter: "udp", units: "bits", resolveNames: true });
  });

  test("sorting by the enrichments: DNS latency, RTT, drops", () => {
    expect(buildTopConfig(flags({ sort: "dns" })).view.sort).toBe("dns");
    expect(buildTopConfig(flags({ sort: "rtt", group: "host-pair" })).view).toMatchObject({ grouping: "host-pair", sort: "rtt" });
    expect(buildTopConfig(flags({ sort: "drops", group: "process" })).view).toMatchObject({ grouping: "process", sort: "drops" });
  });

  test("bad values are named with what is allowed", () => {
    const message = (over: Partial<TopFlags>) => {
      try {
        buildTopConfig(flags(over));
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    };
    expect(message({ interval: "50ms" })).toBe("ConfigError: --interval 50ms must be >= 100ms and <= 60000ms");
    expect(message({ interval: "soon" })).toBe('ConfigError: --interval "soon" is not a duration (examples: 500ms, 5s, 1m)');
    expect(message({ sort: "size" })).toBe('ConfigError: --sort "size" must be one of: interface, direction, protocol, source, destination, group, flows, 2s, 10s, 40s, bytes, packets, dns, rtt, drops, flags');
    expect(message({ group: "pod" })).toBe('ConfigError: --group "pod" must be one of: flow, host-pair, source, destination, port, interface, protocol, process, container');
    expect(message({ units: "kb" })).toBe('ConfigError: --units "kb" must be one of: bytes, bits');
    expect(message({ connect: "localhost" })).toBe('ConfigError: --connect "localhost" must be host:port or an http(s):// URL (example: 127.0.0.1:9990)');
    expect(message({ connect: "localhost:70000" })).toBe('ConfigError: --connect "localhost:70000" must be host:port or an http(s):// URL (example: 127.0.0.1:9990)');
  });

  test("the enrichments: off by default, as `run` has them", () => {
    const { agent } = buildTopConfig(flags());
    expect(agent.processes).toBe(false);
    expect([agent.dnsPort, agent.rtt, agent.drops]).toEqual([undefined, undefined, undefined]);
  });

  test("--enable-process, --enable-dns (--dns-port), --enable-rtt, --enable-drops reach the agent's options", () => {
    // commander hands over true for a bare flag, the text for --flag=value.
    const { agent } = buildTopConfig(flags({ enableProcess: true, enableDns: true, enableRtt: "on", enableDrops: "yes" }));
    expect(agent).toMatchObject({ processes: true, dnsPort: 53, rtt: true, drops: true });
    expect(buildTopConfig(flags({ enableDns: "true", dnsPort: "5353" })).agent.dnsPort).toBe(5353);
    const off = buildTopConfig(flags({ enableProcess: "false", enableDns: "off", dnsPort: "5353", enableRtt: "no", enableDrops: "0" })).agent;
    expect([off.processes, off.dnsPort, off.rtt, off.drops]).toEqual([false, undefined, undefined, undefined]);
  });

  test("bad enrichment values are named as `run` names them; --dns-port only when DNS is on", () => {
    const message = (over: Partial<TopFlags>) => {
      try {
        buildTopConfig(flags(over));
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    };
    expect(message({ enableDrops: "maybe" })).toBe('ConfigError: --enable-drops "maybe" must be true or false');
    expect(message({ enableProcess: "2" })).toBe('ConfigError: --enable-process "2" must be true or false');
    expect(message({ enableDns: true, dnsPort: "0" })).toBe("ConfigError: --dns-port 0 must be >= 1 and <= 65535");
    expect(message({ dnsPort: "0" })).toBeUndefined();
  });

  test("with --connect, enrichment flags on the command line are refused; from the environment they are ignored", () => {
    const refused = (commandLine: string[]) => {
      try {
        buildTopConfig(flags({ connect: "127.0.0.1:9990", enableDrops: true, dnsPort: "5353" }), new Set(commandLine));
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    };
    expect(refused(["connect", "enableDrops"])).toBe(
      "ConfigError: --enable-drops cannot be used with --connect: the agent's own flags decide what its flows carry (run --enable-drops there)",
    );
    expect(refused(["connect", "dnsPort"])).toBe(
      "ConfigError: --dns-port cannot be used with --connect: the agent's own flags decide what its flows carry (run --dns-port there)",
    );
    expect(refused(["connect"])).toBeUndefined();
    // Without --connect the same flags are the local agent's.
    expect(buildTopConfig(flags({ enableDrops: true }), new Set(["enableDrops"])).agent.drops).toBe(true);
  });

  test("the command exits 2 with one line on a bad value, and without a terminal unless --once", () => {
    const run = (args: string[]) => {
      const out = Bun.spawnSync([process.execPath, cliPath, "top", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      return [out.exitCode, out.stderr.toString()];
    };
    expect(run(["--group", "pod"])).toEqual([2, 'netflow-agent: error: --group "pod" must be one of: flow, host-pair, source, destination, port, interface, protocol, process, container\n']);
    expect(run([])).toEqual([2, "netflow-agent: error: top needs a terminal on stdin and stdout; use --once for a text snapshot\n"]);
  });

  const cli = (args: string[], env: Record<string, string> = {}) => {
    const out = Bun.spawnSync([process.execPath, cliPath, "top", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
    return [out.exitCode, out.stderr.toString()];
  };

  test("NETFLOW_ENABLE_* and NETFLOW_DNS_PORT are the flags, checked the same way", () => {
    expect(cli(["--once"], { NETFLOW_ENABLE_DROPS: "maybe" })).toEqual([2, 'netflow-agent: error: --enable-drops "maybe" must be true or false\n']);
    expect(cli(["--once"], { NETFLOW_ENABLE_RTT: "maybe" })).toEqual([2, 'netflow-agent: error: --enable-rtt "maybe" must be true or false\n']);
    expect(cli(["--once"], { NETFLOW_ENABLE_PROCESS: "maybe" })).toEqual([2, 'netflow-agent: error: --enable-process "maybe" must be true or false\n']);
    expect(cli(["--once"], { NETFLOW_ENABLE_DNS: "true", NETFLOW_DNS_PORT: "70000" })).toEqual([2, "netflow-agent: error: --dns-port 70000 must be >= 1 and <= 65535\n"]);
  });

  test("--connect with an enrichment flag: one line, exit 2, before connecting", () => {
    // Port 9 (discard) on loopback: nothing is contacted, the flags are refused first.
    expect(cli(["--once", "--connect", "127.0.0.1:9", "--enable-drops"])).toEqual([
      2,
      "netflow-agent: error: --enable-drops cannot be used with --connect: the agent's own flags decide what its flows carry (run --enable-drops there)\n",
    ]);
    expect(cli(["--connect", "127.0.0.1:9", "--enable-dns=false"])).toEqual([
      2,
      "netflow-agent: error: --enable-dns cannot be used with --connect: the agent's own flags decide what its flows carry (run --enable-dns there)\n",
    ]);
    // Set in the environment (for `run`), it is not refused: top goes on to connect.
    expect(cli(["--once", "--connect", "127.0.0.1:9"], { NETFLOW_ENABLE_DROPS: "true" })).toEqual([
      1,
      "netflow-agent: error: cannot reach the agent at 127.0.0.1:9: connect ECONNREFUSED 127.0.0.1:9 (is it running with --api 127.0.0.1:9?)\n",
    ]);
  });
});

kernelTest("without privileges and without --connect: one line saying what is needed and the alternative, exit 1", () => {
  const out = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, cliPath, "top", "--once"], { stdout: "pipe", stderr: "pipe" });
  expect([out.exitCode, out.stderr.toString()]).toEqual([
    1,
    "netflow-agent: error: loading BPF programs: this process lacks CAP_BPF and CAP_NET_ADMIN — needs root, or CAP_BPF and CAP_NET_ADMIN " +
      "(CAP_SYS_ADMIN instead of CAP_BPF on kernels before 5.8; CAP_PERFMON is not needed): run it with sudo, or grant those capabilities, " +
      "or watch a running agent without privileges: top --connect host:port\n",
  ]);
});
