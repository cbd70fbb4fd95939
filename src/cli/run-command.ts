/** `netflow-agent run`: the agent. Flags → RunConfig → Agent, until SIGINT/SIGTERM. */
import { Command, Option } from "commander";
import { Agent } from "../agent/agent.ts";
import { startAgentApiServer } from "../api/agent-api-server.ts";
import { setLibbpfLogSink } from "../bpf/libbpf.ts";
import { NEEDED_PRIVILEGES } from "../bpf/errors.ts";
import { AsyncOutput } from "../export/async-output.ts";
import type { Exporter } from "../export/exporter.ts";
import { GrpcExporter } from "../export/grpc-exporter.ts";
import { IpfixExporter } from "../export/ipfix-exporter.ts";
import { JsonLinesExporter } from "../export/json-lines.ts";
import { TextTableExporter } from "../export/text-table.ts";
import { ConfigError } from "../config-error.ts";
import { createLogger, type Logger } from "../log.ts";
import { ListenError } from "../net/connect-server.ts";
import { hostPortText, type HostPort } from "../net/listen-address.ts";
import { AgentEndpoints } from "../metrics/agent-endpoints.ts";
import { startMetricsServer } from "../metrics/metrics-server.ts";
import type { ConnectServer } from "../net/connect-server.ts";
import { exportOptions } from "./export-options.ts";
import { filterOptions } from "./filter-options.ts";
import { onStopSignals, reportFailure, secondSignalLine } from "./process-exit.ts";
import { OutputClosedError } from "../write-sync.ts";
import { buildRunConfig, RUN_DEFAULTS, type RunConfig, type RunFlags } from "./run-config.ts";

export function runOptions(): Option[] {
  return [
    new Option("-i, --interfaces <list>", "interfaces to watch: comma-separated names or /regex/, commas inside a /regex/ do not split it (default: all)").env(
      "NETFLOW_INTERFACES",
    ),
    new Option("-x, --exclude-interfaces <list>", "interfaces to leave alone: comma-separated names or /regex/").env("NETFLOW_EXCLUDE_INTERFACES"),
    new Option("--attach-mode <mode>", "tcx (kernel 6.6+), tc (clsact + cls_bpf), or auto: tcx, falling back to tc")
      .default(RUN_DEFAULTS.attachMode)
      .env("NETFLOW_ATTACH_MODE"),
    new Option(
      "--cache-max-flows <n>",
      "ceiling of the kernel's flows map: it grows from --cache-min-flows with the flows it sees, and is evicted early before it fills",
    )
      .default(RUN_DEFAULTS.cacheMaxFlows)
      .env("NETFLOW_CACHE_MAX_FLOWS"),
    new Option("--cache-min-flows <n>", "the flows map's first and smallest size; it shrinks back to this when idle")
      .default(RUN_DEFAULTS.cacheMinFlows)
      .env("NETFLOW_CACHE_MIN_FLOWS"),
    new Option("--cache-active-timeout <duration>", "how often flows are evicted and exported (e.g. 500ms, 5s, 1m)")
      .default(RUN_DEFAULTS.cacheActiveTimeout)
      .env("NETFLOW_CACHE_ACTIVE_TIMEOUT"),
    new Option("--interface-poll-interval <duration>", "how often new and removed interfaces are looked for")
      .default(RUN_DEFAULTS.interfacePollInterval)
      .env("NETFLOW_INTERFACE_POLL_INTERVAL"),
    new Option("-o, --output <format>", "stdout format: json (one flow per line) or text (a table per eviction)")
      .default(RUN_DEFAULTS.output)
      .env("NETFLOW_OUTPUT"),
    new Option("--log-level <level>", "error, warn, info or debug (debug adds libbpf's and the verifier's log)")
      .default(RUN_DEFAULTS.logLevel)
      .env("NETFLOW_LOG_LEVEL"),
    new Option(
      "--api <host:port|off>",
      "serve the live API (netflow.v1.AgentService: Watch, Status) for `top`, and GET /metrics, /healthz, /readyz; off disables it",
    )
      .default(RUN_DEFAULTS.api)
      .env("NETFLOW_API"),
    new Option(
      "--metrics <host:port|off>",
      "also serve GET /metrics (Prometheus), /healthz and /readyz on a listener of their own, without the flows API; a port alone listens on 127.0.0.1",
    )
      .default(RUN_DEFAULTS.metrics)
      .env("NETFLOW_METRICS"),
    new Option(
      "--sampling <n>",
      "count 1 in n packets, chosen at random in the kernel (1: every packet); flows carry n and their counts stay raw: multiply by n to estimate the wire",
    )
      .default(RUN_DEFAULTS.sampling)
      .env("NETFLOW_SAMPLING"),
    ...enrichmentOptions(),
  ];
}

/**
 * What flows carry beyond their counts (the owning process, DNS, RTT, drops):
 * `run` and a local `top` take the same flags, NETFLOW_* names and defaults.
 */
export function enrichmentOptions(): Option[] {
  return [
    new Option(
      "--enable-process [bool]",
      "each flow carries the process (pid, command) and cgroup (path, container id) owning its local socket, found in the kernel when the flow starts; off by default: its socket hooks cost every socket opened on the host ~20 µs",
    )
      .default(RUN_DEFAULTS.enableProcess)
      .env("NETFLOW_ENABLE_PROCESS"),
    new Option(
      "--enable-dns [bool]",
      "read DNS (UDP and TCP) in the kernel: each query is matched to its response (id and 5-tuple) and the flow that carried the response gets latency, id, flags, response code and name; off by default",
    )
      .default(RUN_DEFAULTS.enableDns)
      .env("NETFLOW_ENABLE_DNS"),
    new Option("--dns-port <port>", "the port (UDP and TCP) read as DNS with --enable-dns")
      .default(RUN_DEFAULTS.dnsPort)
      .env("NETFLOW_DNS_PORT"),
    new Option(
      "--enable-rtt [bool]",
      "TCP RTT: a sock_ops program at the cgroup v2 root records each connection's smoothed RTT (what ss -ti prints); both directions' flows of a local socket's connection get its latest, min and max in the interval; off by default",
    )
      .default(RUN_DEFAULTS.enableRtt)
      .env("NETFLOW_ENABLE_RTT"),
    new Option(
      "--enable-drops [bool]",
      "packets the kernel drops (skb:kfree_skb), per flow: packets, IP bytes, the latest reason by the running kernel's name (NETFILTER_DROP, NO_SOCKET, QDISC_DROP, …) and the socket's TCP state; needs kernel BTF (5.17+) and CAP_PERFMON, else the agent runs without it after one warning; off by default",
    )
      .default(RUN_DEFAULTS.enableDrops)
      .env("NETFLOW_ENABLE_DROPS"),
  ];
}

export function registerRun(program: Command) {
  const command = program
    .command("run")
    .summary("capture flows on this host's interfaces and export them (needs root)")
    .description(
      [
        "Attach the flow program at ingress and egress of every selected interface, aggregate flows in the kernel, " +
          "and print one JSON object per flow per line to stdout every --cache-active-timeout. " +
          "--export grpc --target host:port sends them to a collector instead (gRPC over HTTP/2; queued and retried while it is away); " +
          "--export stdout,grpc does both. --protocol netobserv speaks netobserv's pbflow.",
        `Needs ${NEEDED_PRIVILEGES}. Every flag can also be set as NETFLOW_<FLAG> (e.g. NETFLOW_OUTPUT=text).`,
      ].join("\n\n"),
    );
  for (const option of runOptions()) command.addOption(option);
  for (const option of exportOptions()) command.addOption(option);
  for (const option of filterOptions()) command.addOption(option);
  command.action(async (flags: RunFlags) => {
    const config = buildRunConfig(flags);
    await runAgent(config, config.export.flushTimeoutMs);
  });
}

/** A listener that cannot bind is a bad flag (exit 2), named with its address and why. */
async function bindListener<T>(flag: string, bind: () => Promise<T>): Promise<T> {
  try {
    return await bind();
  } catch (error) {
    if (error instanceof ListenError) throw new ConfigError(`${flag} ${hostPortText(error.listen)}: ${error.reason}`, { cause: error });
    throw error;
  }
}

/** How long the last log lines may wait for stderr's reader at exit, after stdout's own flush. */
const LOG_FLUSH_MS = 250;

async function runAgent(config: RunConfig, flushTimeoutMs: number) {
  // Log lines wait for no reader either: with `run 2>&1 | sleep` stderr is the stalled pipe, and a
  // blocking log write would hold the JS thread (and SIGTERM) as stdout's did. Its own losses are
  // counted, not logged: they would be more lines for the output that lost them.
  const stderr = new AsyncOutput({ fd: 2, label: "stderr", maxQueuedBytes: 2 ** 20, flushTimeoutMs: LOG_FLUSH_MS, log: createLogger("error", () => {}) });
  const log = createLogger(config.logLevel, (line) => stderr.write(line + "\n", 1));
  const exitNow = (signal: NodeJS.Signals) => {
    stderr.write(secondSignalLine(signal), 1);
    void stderr.flush(LOG_FLUSH_MS).finally(() => process.exit(130));
  };
  try {
    await runAgentLogging(config, flushTimeoutMs, log, exitNow);
  } finally {
    await stderr[Symbol.asyncDispose]();
  }
}

async function runAgentLogging(config: RunConfig, flushTimeoutMs: number, log: Logger, exitNow: (signal: NodeJS.Signals) => void) {
  setLibbpfLogSink((level, line) => {
    if (config.logLevel === "debug") log.debug(line);
    else if (level === 0 && !line.includes("failed to load")) log.debug(line);
  });
  let stopBecause: (reason: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    stopBecause = resolve;
    onStopSignals(resolve, undefined, exitNow);
  });
  // Bound before anything is loaded: an address in use is a bad --api or --metrics (exit 2), found with nothing to detach.
  const endpoints = new AgentEndpoints();
  const apiListen = config.api;
  const api = apiListen && (await bindListener("--api", () => startAgentApiServer(apiListen, log, endpoints)));
  let metrics: ConnectServer | undefined;
  if (config.metrics) {
    const metricsListen = config.metrics;
    try {
      metrics = await bindListener("--metrics", () => startMetricsServer(metricsListen, endpoints));
    } catch (error) {
      await api?.[Symbol.asyncDispose]();
      throw error;
    }
    log.info(`metrics (/metrics, /healthz, /readyz) on ${metrics.url}`);
  }
  const closeListeners = async () => {
    await api?.[Symbol.asyncDispose]();
    await metrics?.close();
  };
  let stdoutClosed = false;
  const exporters: Exporter[] = [];
  // Opened first, before anything is loaded: a collector name that does not resolve is a bad --ipfix-target (exit 2).
  if (config.export.ipfix) {
    try {
      exporters.push(await IpfixExporter.open(config.export.ipfix, log));
    } catch (error) {
      await closeListeners();
      throw new ConfigError((error as Error).message, { cause: error });
    }
  }
  if (config.export.sinks.includes("stdout")) {
    // Never waits for the reader: a stalled one loses counted records, and shutdown waits for it at most flushTimeoutMs.
    const stdout = new AsyncOutput({
      fd: 1,
      label: "stdout",
      flushTimeoutMs,
      maxQueuedBytes: config.export.stdoutQueueBytes,
      log,
      onClosed: () => {
        stdoutClosed = true;
        stopBecause("stdout closed");
      },
    });
    exporters.push(config.output === "text" ? new TextTableExporter(stdout) : new JsonLinesExporter(stdout));
  }
  if (config.export.grpc) exporters.push(GrpcExporter.connect(config.export.grpc, log));
  let agent: Agent;
  try {
    agent = await Agent.start(config, exporters, log);
  } catch (error) {
    // The agent owns the exporters only once started.
    for (const exporter of exporters) await exporter[Symbol.asyncDispose]();
    await closeListeners();
    throw error;
  }
  api?.serve(agent);
  endpoints.serve(agent);
  agent.start();
  // With none attached, Agent.start said why and what it waits for: no empty list here.
  const names = agent.status().interfaces.map((i) => i.name);
  if (names.length > 0) log.info(`capturing on ${names.length} interface(s): ${names.join(", ")}; flows every ${config.activeTimeoutMs} ms`);
  // A bug must still detach everything: report it, take the normal way out, exit 1.
  const crash = (error: unknown) => {
    reportFailure(error, log);
    void agent[Symbol.asyncDispose]().finally(() => process.exit(1));
  };
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
  const reason = await stopRequested;
  log.info(`${reason}: detaching and flushing`);
  await agent[Symbol.asyncDispose]();
  await closeListeners();
  if (stdoutClosed) throw new OutputClosedError("stdout was closed by its reader: stopped");
}
