/**
 * The typed configuration of `run`, built once from flags, NETFLOW_* variables
 * (commander resolves those) and defaults, and validated here.
 */
import type { AgentOptions } from "../agent/agent.ts";
import { interfaceFilter } from "../agent/interface-filter.ts";
import { ConfigError } from "../config-error.ts";
import type { LogLevel } from "../log.ts";
import { parseChoice, parseDuration, parseInteger, parseSwitch } from "./parse-values.ts";
import { buildExportConfig, type ExportConfig, type ExportFlags } from "./export-options.ts";
import { buildFilterConfig, type FilterFlags } from "./filter-options.ts";
import { parseHostPort, type HostPort } from "../net/listen-address.ts";

/** The agent's own options plus what `run` adds around it. */
export interface RunConfig extends Pick<AgentOptions, "interfaces" | "excludeInterfaces" | "attachMode" | "maxFlows" | "minFlows" | "activeTimeoutMs" | "interfacePollMs" | "filter" | "processes" | "sampling" | "dnsPort" | "rtt" | "drops"> {
  output: "json" | "text";
  logLevel: LogLevel;
  /** --export and its flags (src/cli/export-options.ts). */
  export: ExportConfig;
  /** Where AgentService is served (--api); undefined when "off". */
  api?: HostPort;
  /** A listener of its own for /metrics, /healthz, /readyz (--metrics); undefined when "off". */
  metrics?: HostPort;
}

/** Raw option values as commander hands them over (strings). */
export interface RunFlags extends ExportFlags, FilterFlags, EnrichmentFlags {
  interfaces?: string;
  excludeInterfaces?: string;
  attachMode: string;
  cacheMaxFlows: string;
  cacheMinFlows: string;
  cacheActiveTimeout: string;
  interfacePollInterval: string;
  output: string;
  logLevel: string;
  api: string;
  metrics: string;
  sampling?: string;
}

/** The enrichments' flags, as `run` and a local `top` take them: "true"/"false" (commander gives true for the bare flag). */
export interface EnrichmentFlags {
  enableProcess?: string | boolean;
  enableDns?: string | boolean;
  dnsPort?: string;
  enableRtt?: string | boolean;
  enableDrops?: string | boolean;
}

/** The agent options the enrichment flags set (RUN_DEFAULTS where absent: all off). */
export function buildEnrichmentConfig(flags: EnrichmentFlags): Pick<AgentOptions, "processes" | "dnsPort" | "rtt" | "drops"> {
  return {
    processes: parseSwitch("--enable-process", flags.enableProcess ?? RUN_DEFAULTS.enableProcess),
    ...(parseSwitch("--enable-dns", flags.enableDns ?? RUN_DEFAULTS.enableDns) ? { dnsPort: parseInteger("--dns-port", flags.dnsPort ?? RUN_DEFAULTS.dnsPort, 1, 65535) } : {}),
    ...(parseSwitch("--enable-rtt", flags.enableRtt ?? RUN_DEFAULTS.enableRtt) ? { rtt: true } : {}),
    ...(parseSwitch("--enable-drops", flags.enableDrops ?? RUN_DEFAULTS.enableDrops) ? { drops: true } : {}),
  };
}

export const RUN_DEFAULTS = {
  attachMode: "auto",
  cacheMaxFlows: "1048576",
  cacheMinFlows: "4096",
  cacheActiveTimeout: "5s",
  interfacePollInterval: "1s",
  output: "json",
  logLevel: "info",
  api: "127.0.0.1:9990",
  metrics: "off",
  enableProcess: "false",
  sampling: "1",
  enableDns: "false",
  dnsPort: "53",
  enableRtt: "false",
  enableDrops: "false",
} as const;

export function buildRunConfig(flags: RunFlags): RunConfig {
  interfaceFilter(flags.interfaces, flags.excludeInterfaces); // validates both lists (InterfacePatternError is a ConfigError)
  const maxFlows = parseInteger("--cache-max-flows", flags.cacheMaxFlows, 16, 16_777_216);
  const minFlows = parseInteger("--cache-min-flows", flags.cacheMinFlows, 16, 16_777_216);
  if (minFlows > maxFlows) throw new ConfigError(`--cache-min-flows ${minFlows} must be <= --cache-max-flows ${maxFlows}`);
  return {
    interfaces: flags.interfaces,
    excludeInterfaces: flags.excludeInterfaces,
    attachMode: parseChoice("--attach-mode", flags.attachMode, ["auto", "tcx", "tc"] as const),
    maxFlows,
    minFlows,
    activeTimeoutMs: parseDuration("--cache-active-timeout", flags.cacheActiveTimeout, 100, 3_600_000),
    interfacePollMs: parseDuration("--interface-poll-interval", flags.interfacePollInterval, 100, 600_000),
    output: parseChoice("--output", flags.output, ["json", "text"] as const),
    logLevel: parseChoice("--log-level", flags.logLevel, ["error", "warn", "info", "debug"] as const),
    export: buildExportConfig(flags, maxFlows),
    filter: buildFilterConfig(flags),
    sampling: parseInteger("--sampling", flags.sampling ?? RUN_DEFAULTS.sampling, 1, 2 ** 31),
    ...buildEnrichmentConfig(flags),
    api: flags.api === "off" ? undefined : parseHostPort("--api", flags.api),
    metrics: parseMetricsListen(flags.metrics ?? RUN_DEFAULTS.metrics),
  };
}

/** --metrics: "off", host:port, or a port alone, which binds 127.0.0.1 (scraped from beyond the host only when told). */
function parseMetricsListen(text: string): HostPort | undefined {
  const value = text.trim();
  if (value === "off") return undefined;
  const message = `--metrics "${text}" must be host:port, a port (on 127.0.0.1) or off, with port 0-65535 (examples: 127.0.0.1:9101, 9101, [::1]:9101)`;
  if (/^\d{1,5}$/.test(value)) {
    if (Number(value) > 65535) throw new ConfigError(message);
    return { host: "127.0.0.1", port: Number(value) };
  }
  try {
    return parseHostPort("--metrics", value);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(message);
    throw error;
  }
}
