/**
 * `run`'s export flags (--export, --target, --protocol, --tls*, --ipfix-*,
 * --export-*), and their part of RunConfig, validated here once. A flag of a
 * sink that --export does not name is an error, not silently ignored.
 */
import { readFileSync } from "node:fs";
import { Option } from "commander";
import { parseIpAddress } from "../net/ip-prefix.ts";
import { type GrpcExportSettings, sizeText } from "../export/grpc-exporter.ts";
import type { IpfixExportSettings } from "../export/ipfix-exporter.ts";
import { parseHostPort } from "../net/listen-address.ts";
import { ConfigError, parseChoice, parseDuration, parseInteger } from "./parse-values.ts";

export type ExportSink = "stdout" | "grpc" | "ipfix";
const SINKS = ["stdout", "grpc", "ipfix"] as const;

export interface ExportConfig {
  /** Where flows go; stdout prints in the --output format. */
  sinks: ExportSink[];
  /** At shutdown, how long every sink may take to deliver what it holds (--export-flush-timeout). */
  flushTimeoutMs: number;
  /** Bytes of formatted output stdout may hold for a slow reader (--stdout-queue-bytes). */
  stdoutQueueBytes: number;
  /** Set when sinks has "grpc". */
  grpc?: GrpcExportSettings;
  /** Set when sinks has "ipfix". */
  ipfix?: IpfixExportSettings;
}

export interface ExportFlags {
  export: string;
  target?: string;
  protocol: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  agentIp?: string;
  /** Unset: derived from the flows map's ceiling (defaultQueueBytes). */
  exportQueueBytes?: string;
  /** Unset: no bound in records, only in bytes. */
  exportQueueRecords?: string;
  exportBatchRecords: string;
  exportBatchInterval: string;
  exportFlushTimeout: string;
  stdoutQueueBytes: string;
  ipfixTarget?: string;
  /** Unset: the defaults in IPFIX_DEFAULTS (shown in --help). */
  ipfixDomain?: string;
  ipfixTemplateRefresh?: string;
  ipfixMtu?: string;
  ipfixRate?: string;
}

/**
 * Defaults. A batch of 5,000 records is ~440 KB (netflow.v1) to ~560 KB
 * (pbflow) on the wire: well below gRPC's usual 4 MiB limit (netobserv's own
 * agent sends up to 10,000), and large enough that the per-call cost stays
 * small (bench/RESULTS-export.md). The queue's default is derived from the
 * map's ceiling: see defaultQueueBytes.
 */
export const EXPORT_DEFAULTS = {
  export: "stdout",
  protocol: "netflow",
  exportBatchRecords: "5000",
  exportBatchInterval: "1s",
  exportFlushTimeout: "5s",
  stdoutQueueBytes: "64MiB",
} as const;

/**
 * IPFIX defaults. Templates every 60 s: RFC 6728's default is 600 s, but a
 * restarted collector stores nothing until it has them again. 10,000
 * datagrams/s (~14 MB/s at 1,452 B) sends an eviction of 100k IPv4 flows
 * (~5,900 datagrams) in 0.6 s without overrunning nfcapd's default 208 KiB
 * socket buffer (bench/ipfix-pacing figures in the README).
 */
export const IPFIX_DEFAULTS = {
  domain: 1,
  templateRefresh: "60s",
  mtu: 1500,
  rate: 10_000,
} as const;

/**
 * --export-queue-bytes's default: two evictions at the map's ceiling, so a
 * collector that keeps up on average never loses records to the burst of one
 * eviction (the next one may arrive before the first has drained). 128 bytes
 * a record covers netflow.v1 (~88 B IPv4, ~113 B IPv6) and pbflow IPv4
 * (~108 B); all-IPv6 pbflow (~136 B) fits 1.9 evictions (bench/RESULTS-export.md).
 * The floor lets a small map's agent ride out a collector restart. The memory
 * is taken as records wait, not up front (plus about one eviction's worth of
 * block buffers kept for reuse, see encoded-records.ts).
 */
export const QUEUE_BYTES_PER_FLOW = 128;
export const MIN_DEFAULT_QUEUE_BYTES = 64 * 2 ** 20;

export function defaultQueueBytes(mapCeilingFlows: number): number {
  // A programming error, not a user's: run-config passes the validated --cache-max-flows.
  if (!Number.isInteger(mapCeilingFlows) || mapCeilingFlows < 1)
    throw new RangeError(`defaultQueueBytes: mapCeilingFlows ${mapCeilingFlows} must be a whole number >= 1 (RunConfig.maxFlows)`);
  return Math.max(MIN_DEFAULT_QUEUE_BYTES, 2 * mapCeilingFlows * QUEUE_BYTES_PER_FLOW);
}

export function exportOptions(): Option[] {
  return [
    new Option(
      "--export <list>",
      "where flows go, comma-separated: stdout (printed in the --output format), grpc (to --target), ipfix (IPFIX over UDP to --ipfix-target); e.g. stdout,ipfix",
    )
      .default(EXPORT_DEFAULTS.export)
      .env("NETFLOW_EXPORT"),
    new Option("--target <host:port>", "collector for --export grpc (netflow-agent collect, or netobserv's flowlogs-pipeline)").env("NETFLOW_TARGET"),
    new Option("--protocol <name>", "grpc protocol: netflow (netflow.v1.CollectorService/Export) or netobserv (pbflow.Collector/Send)")
      .default(EXPORT_DEFAULTS.protocol)
      .env("NETFLOW_PROTOCOL"),
    new Option("--tls", "connect to --target with TLS (default: cleartext HTTP/2, h2c)").env("NETFLOW_TLS"),
    new Option("--tls-ca <file>", "PEM CA bundle to verify the collector with (default: the system's); implies --tls").env("NETFLOW_TLS_CA"),
    new Option("--tls-cert <file>", "PEM client certificate for mutual TLS (with --tls-key); implies --tls").env("NETFLOW_TLS_CERT"),
    new Option("--tls-key <file>", "PEM private key of --tls-cert").env("NETFLOW_TLS_KEY"),
    new Option("--tls-server-name <name>", "name to expect in the collector's certificate (default: the --target host)").env("NETFLOW_TLS_SERVER_NAME"),
    new Option("--agent-ip <address>", "agent_ip sent with --protocol netobserv (default: the host's first non-loopback address)").env("NETFLOW_AGENT_IP"),
    new Option("--ipfix-target <host:port>", "IPFIX collector for --export ipfix (nfcapd, nfacctd, goflow2…), over UDP").env("NETFLOW_IPFIX_TARGET"),
    new Option("--ipfix-domain <id>", `IPFIX observation domain id, 0-4294967295 (default: ${IPFIX_DEFAULTS.domain})`).env("NETFLOW_IPFIX_DOMAIN"),
    new Option(
      "--ipfix-template-refresh <duration>",
      `how often templates and interface names are re-sent, so a restarted collector learns them again (RFC 7011 8.1) (default: ${IPFIX_DEFAULTS.templateRefresh})`,
    ).env("NETFLOW_IPFIX_TEMPLATE_REFRESH"),
    new Option(
      "--ipfix-mtu <bytes>",
      `path MTU to the collector: each message fits in one unfragmented datagram, 1280-65535 (default: ${IPFIX_DEFAULTS.mtu})`,
    ).env("NETFLOW_IPFIX_MTU"),
    new Option(
      "--ipfix-rate <datagrams/s>",
      `most datagrams a second: paces an eviction's burst so the collector's socket buffer does not overflow (default: ${IPFIX_DEFAULTS.rate})`,
    ).env("NETFLOW_IPFIX_RATE"),
    new Option(
      "--export-queue-bytes <size>",
      "encoded records held for grpc and ipfix while the collector is slow or away; beyond, the oldest are dropped (counted, logged). " +
        `Bytes, or KiB/MiB/GiB (default: room for 2 evictions at --cache-max-flows, ${QUEUE_BYTES_PER_FLOW} B a record, ` +
        `at least ${sizeText(MIN_DEFAULT_QUEUE_BYTES)}: ${sizeText(defaultQueueBytes(2 ** 20))} at 1048576 flows; taken as records wait, not up front)`,
    ).env("NETFLOW_EXPORT_QUEUE_BYTES"),
    new Option("--export-queue-records <n>", "also bound the queue in records (default: bounded in bytes only)").env("NETFLOW_EXPORT_QUEUE_RECORDS"),
    new Option("--export-batch-records <n>", "most records per request")
      .default(EXPORT_DEFAULTS.exportBatchRecords)
      .env("NETFLOW_EXPORT_BATCH_RECORDS"),
    new Option("--export-batch-interval <duration>", "longest a record waits for its batch to fill")
      .default(EXPORT_DEFAULTS.exportBatchInterval)
      .env("NETFLOW_EXPORT_BATCH_INTERVAL"),
    new Option("--export-flush-timeout <duration>", "at shutdown, how long queued records may take to reach the collector or stdout's reader")
      .default(EXPORT_DEFAULTS.exportFlushTimeout)
      .env("NETFLOW_EXPORT_FLUSH_TIMEOUT"),
    new Option(
      "--stdout-queue-bytes <size>",
      "formatted output held for a slow stdout reader; past it, whole records are dropped and counted (e.g. 64MiB)",
    )
      .default(EXPORT_DEFAULTS.stdoutQueueBytes)
      .env("NETFLOW_STDOUT_QUEUE_BYTES"),
  ];
}

function parseSinks(text: string): ExportSink[] {
  const names = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (names.length === 0) throw new ConfigError(`--export "${text}" must name at least one of: ${SINKS.join(", ")}`);
  const sinks = names.map((name) => parseChoice("--export", name, SINKS));
  return [...new Set(sinks)];
}

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(`${flag} ${path}: cannot read it (${code})`);
  }
}

function parseTls(flags: ExportFlags): GrpcExportSettings["tls"] {
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey))
    throw new ConfigError(flags.tlsCert ? "--tls-cert needs --tls-key (the certificate's private key)" : "--tls-key needs --tls-cert");
  if (!flags.tls && !flags.tlsCa && !flags.tlsCert) {
    if (flags.tlsServerName) throw new ConfigError("--tls-server-name needs --tls (or --tls-ca / --tls-cert)");
    return undefined;
  }
  return {
    ca: flags.tlsCa ? readPem("--tls-ca", flags.tlsCa) : undefined,
    cert: flags.tlsCert ? readPem("--tls-cert", flags.tlsCert) : undefined,
    key: flags.tlsKey ? readPem("--tls-key", flags.tlsKey) : undefined,
    serverName: flags.tlsServerName,
  };
}

function parseTarget(text: string, flag = "--target") {
  const message = `${flag} "${text}" must be host:port with port 1-65535 (examples: 127.0.0.1:9999, [::1]:9999, collector.example:2055)`;
  try {
    const target = parseHostPort(flag, text);
    if (target.port === 0) throw new ConfigError(message);
    return target;
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(message);
    throw error;
  }
}

const SIZE_UNITS: Record<string, number> = { "": 1, B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 };
const MIN_QUEUE_BYTES = 2 ** 20;
const MAX_QUEUE_BYTES = 64 * 2 ** 30;

/** "268435456", "256MiB", "1GiB": a whole number of bytes. */
function parseSize(flag: string, text: string, min: number, max: number): number {
  const match = /^(\d+)(B|KiB|MiB|GiB)?$/.exec(text.trim());
  if (!match) throw new ConfigError(`${flag} "${text}" is not a size (examples: 268435456, 256MiB, 1GiB)`);
  const bytes = Number(match[1]) * SIZE_UNITS[match[2] ?? ""]!;
  if (bytes < min || bytes > max) throw new ConfigError(`${flag} ${text} must be >= ${sizeText(min)} and <= ${sizeText(max)}`);
  return bytes;
}

/**
 * `mapCeilingFlows`: the flows map's ceiling (RunConfig.maxFlows, from
 * --cache-max-flows), which sizes the queue's default.
 */
export function buildExportConfig(flags: ExportFlags, mapCeilingFlows: number): ExportConfig {
  const sinks = parseSinks(flags.export);
  const flushTimeoutMs = parseDuration("--export-flush-timeout", flags.exportFlushTimeout, 0, 600_000);
  const stdoutQueueBytes = parseSize("--stdout-queue-bytes", flags.stdoutQueueBytes ?? EXPORT_DEFAULTS.stdoutQueueBytes, MIN_QUEUE_BYTES, MAX_QUEUE_BYTES);
  rejectFlagsOfUnusedSinks(flags, sinks);
  const config: ExportConfig = { sinks, flushTimeoutMs, stdoutQueueBytes };
  const queueBytes = () =>
    flags.exportQueueBytes === undefined
      ? defaultQueueBytes(mapCeilingFlows)
      : parseSize("--export-queue-bytes", flags.exportQueueBytes, MIN_QUEUE_BYTES, MAX_QUEUE_BYTES);
  if (sinks.includes("grpc")) config.grpc = buildGrpcSettings(flags, queueBytes(), flushTimeoutMs);
  if (sinks.includes("ipfix")) config.ipfix = buildIpfixSettings(flags, queueBytes(), flushTimeoutMs);
  return config;
}

/** Flags that only one sink reads, by that sink; given without it they would do nothing. */
const SINK_FLAGS: { sink: ExportSink; flag: string; given: (f: ExportFlags) => boolean }[] = [
  { sink: "grpc", flag: "--target", given: (f) => f.target !== undefined },
  { sink: "grpc", flag: "--protocol", given: (f) => f.protocol !== undefined && f.protocol !== EXPORT_DEFAULTS.protocol },
  { sink: "grpc", flag: "--tls", given: (f) => Boolean(f.tls) },
  { sink: "grpc", flag: "--tls-ca", given: (f) => f.tlsCa !== undefined },
  { sink: "grpc", flag: "--tls-cert", given: (f) => f.tlsCert !== undefined },
  { sink: "grpc", flag: "--tls-key", given: (f) => f.tlsKey !== undefined },
  { sink: "grpc", flag: "--tls-server-name", given: (f) => f.tlsServerName !== undefined },
  { sink: "grpc", flag: "--agent-ip", given: (f) => f.agentIp !== undefined },
  { sink: "grpc", flag: "--export-queue-records", given: (f) => f.exportQueueRecords !== undefined },
  { sink: "grpc", flag: "--export-batch-records", given: (f) => f.exportBatchRecords !== undefined && f.exportBatchRecords !== EXPORT_DEFAULTS.exportBatchRecords },
  { sink: "grpc", flag: "--export-batch-interval", given: (f) => f.exportBatchInterval !== undefined && f.exportBatchInterval !== EXPORT_DEFAULTS.exportBatchInterval },
  { sink: "ipfix", flag: "--ipfix-target", given: (f) => f.ipfixTarget !== undefined },
  { sink: "ipfix", flag: "--ipfix-domain", given: (f) => f.ipfixDomain !== undefined },
  { sink: "ipfix", flag: "--ipfix-template-refresh", given: (f) => f.ipfixTemplateRefresh !== undefined },
  { sink: "ipfix", flag: "--ipfix-mtu", given: (f) => f.ipfixMtu !== undefined },
  { sink: "ipfix", flag: "--ipfix-rate", given: (f) => f.ipfixRate !== undefined },
];

function rejectFlagsOfUnusedSinks(flags: ExportFlags, sinks: ExportSink[]) {
  for (const { sink, flag, given } of SINK_FLAGS)
    if (given(flags) && !sinks.includes(sink))
      throw new ConfigError(`${flag} applies to --export ${sink}, which --export "${flags.export}" does not include (add it: --export ${[...sinks, sink].join(",")})`);
  if (flags.exportQueueBytes !== undefined && !sinks.includes("grpc") && !sinks.includes("ipfix"))
    throw new ConfigError(`--export-queue-bytes applies to --export grpc or ipfix, which --export "${flags.export}" does not include`);
}

function buildIpfixSettings(flags: ExportFlags, queueBytes: number, flushTimeoutMs: number): IpfixExportSettings {
  if (!flags.ipfixTarget) throw new ConfigError("--ipfix-target is required with --export ipfix (example: --ipfix-target 127.0.0.1:4739)");
  const target = parseTarget(flags.ipfixTarget, "--ipfix-target");
  const mtu = flags.ipfixMtu === undefined ? IPFIX_DEFAULTS.mtu : parseInteger("--ipfix-mtu", flags.ipfixMtu, 1280, 65535);
  return {
    target,
    domain: flags.ipfixDomain === undefined ? IPFIX_DEFAULTS.domain : parseInteger("--ipfix-domain", flags.ipfixDomain, 0, 4294967295),
    templateRefreshMs: parseDuration("--ipfix-template-refresh", flags.ipfixTemplateRefresh ?? IPFIX_DEFAULTS.templateRefresh, 1000, 3_600_000),
    mtu,
    rate: flags.ipfixRate === undefined ? IPFIX_DEFAULTS.rate : parseInteger("--ipfix-rate", flags.ipfixRate, 10, 10_000_000),
    queueBytes,
    flushTimeoutMs,
  };
}

function buildGrpcSettings(flags: ExportFlags, queueBytes: number, flushTimeoutMs: number): GrpcExportSettings {
  if (!flags.target) throw new ConfigError("--target is required with --export grpc (example: --target 127.0.0.1:9999)");
  const target = parseTarget(flags.target);
  const batchRecords = parseInteger("--export-batch-records", flags.exportBatchRecords, 1, 100_000);
  let queueRecords: number | undefined;
  if (flags.exportQueueRecords !== undefined) {
    queueRecords = parseInteger("--export-queue-records", flags.exportQueueRecords, 1, 10_000_000);
    if (queueRecords < batchRecords)
      throw new ConfigError(`--export-queue-records ${queueRecords} must be >= --export-batch-records ${batchRecords}`);
  }
  let agentIp: Uint8Array | undefined;
  if (flags.agentIp !== undefined) {
    agentIp = parseIpAddress(flags.agentIp.trim());
    if (!agentIp) throw new ConfigError(`--agent-ip "${flags.agentIp}" is not an IPv4 or IPv6 address`);
  }
  return {
    target,
    protocol: parseChoice("--protocol", flags.protocol, ["netflow", "netobserv"] as const),
    tls: parseTls(flags),
    queueBytes,
    queueRecords,
    batchRecords,
    batchIntervalMs: parseDuration("--export-batch-interval", flags.exportBatchInterval, 10, 60_000),
    flushTimeoutMs,
    agentIp,
  };
}
