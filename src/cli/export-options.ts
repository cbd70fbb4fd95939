/**
 * `run`'s export flags (--export, --target, --protocol, --tls*, --export-*),
 * and their part of RunConfig, validated here once.
 */
import { readFileSync } from "node:fs";
import { Option } from "commander";
import { parseIpAddress } from "../api/ip-prefix.ts";
import type { GrpcExportSettings } from "../export/grpc-exporter.ts";
import { parseHostPort } from "../net/listen-address.ts";
import { ConfigError, parseChoice, parseDuration, parseInteger } from "./parse-values.ts";

export type ExportSink = "stdout" | "grpc";

export interface ExportConfig {
  /** Where flows go; stdout prints in the --output format. */
  sinks: ExportSink[];
  /** Set when sinks has "grpc". */
  grpc?: GrpcExportSettings;
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
  exportQueueRecords: string;
  exportBatchRecords: string;
  exportBatchInterval: string;
  exportFlushTimeout: string;
}

/**
 * Defaults. The queue holds ~1 minute of a busy node: 8,000 flows per 5 s
 * eviction is 96,000 records a minute; at ~520 bytes of heap per queued
 * FlowRecord (bench/RESULTS-export.md) 100,000 records cost ~52 MB at most.
 * A batch of 5,000 records is ~440 KB (netflow.v1) to ~560 KB (pbflow) on
 * the wire: well below gRPC's usual 4 MiB limit (netobserv's own agent sends
 * up to 10,000), and large enough that the per-call cost stays small
 * (bench: ~630k records/s per core at 1,000 per call, ~900k at 10,000).
 */
export const EXPORT_DEFAULTS = {
  export: "stdout",
  protocol: "netflow",
  exportQueueRecords: "100000",
  exportBatchRecords: "5000",
  exportBatchInterval: "1s",
  exportFlushTimeout: "5s",
} as const;

export function exportOptions(): Option[] {
  return [
    new Option("--export <list>", "where flows go: stdout (printed in the --output format), grpc (sent to --target), or both: stdout,grpc")
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
    new Option("--export-queue-records <n>", "records held while the collector is slow or away; beyond, the oldest are dropped (counted, logged)")
      .default(EXPORT_DEFAULTS.exportQueueRecords)
      .env("NETFLOW_EXPORT_QUEUE_RECORDS"),
    new Option("--export-batch-records <n>", "most records per request")
      .default(EXPORT_DEFAULTS.exportBatchRecords)
      .env("NETFLOW_EXPORT_BATCH_RECORDS"),
    new Option("--export-batch-interval <duration>", "longest a record waits for its batch to fill")
      .default(EXPORT_DEFAULTS.exportBatchInterval)
      .env("NETFLOW_EXPORT_BATCH_INTERVAL"),
    new Option("--export-flush-timeout <duration>", "at shutdown, how long queued records may take to reach the collector")
      .default(EXPORT_DEFAULTS.exportFlushTimeout)
      .env("NETFLOW_EXPORT_FLUSH_TIMEOUT"),
  ];
}

function parseSinks(text: string): ExportSink[] {
  const names = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (names.length === 0) throw new ConfigError(`--export "${text}" must name at least one of: stdout, grpc`);
  const sinks = names.map((name) => parseChoice("--export", name, ["stdout", "grpc"] as const));
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

function parseTarget(text: string) {
  const message = `--target "${text}" must be host:port with port 1-65535 (examples: 127.0.0.1:9999, [::1]:9999, collector.example:2055)`;
  try {
    const target = parseHostPort("--target", text);
    if (target.port === 0) throw new ConfigError(message);
    return target;
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(message);
    throw error;
  }
}

export function buildExportConfig(flags: ExportFlags): ExportConfig {
  const sinks = parseSinks(flags.export);
  if (!sinks.includes("grpc")) return { sinks };
  if (!flags.target) throw new ConfigError("--target is required with --export grpc (example: --target 127.0.0.1:9999)");
  const target = parseTarget(flags.target);
  const queueRecords = parseInteger("--export-queue-records", flags.exportQueueRecords, 1, 10_000_000);
  const batchRecords = parseInteger("--export-batch-records", flags.exportBatchRecords, 1, 100_000);
  if (queueRecords < batchRecords)
    throw new ConfigError(`--export-queue-records ${queueRecords} must be >= --export-batch-records ${batchRecords}`);
  let agentIp: Uint8Array | undefined;
  if (flags.agentIp !== undefined) {
    agentIp = parseIpAddress(flags.agentIp.trim());
    if (!agentIp) throw new ConfigError(`--agent-ip "${flags.agentIp}" is not an IPv4 or IPv6 address`);
  }
  return {
    sinks,
    grpc: {
      target,
      protocol: parseChoice("--protocol", flags.protocol, ["netflow", "netobserv"] as const),
      tls: parseTls(flags),
      queueRecords,
      batchRecords,
      batchIntervalMs: parseDuration("--export-batch-interval", flags.exportBatchInterval, 10, 60_000),
      flushTimeoutMs: parseDuration("--export-flush-timeout", flags.exportFlushTimeout, 0, 600_000),
      agentIp,
    },
  };
}
