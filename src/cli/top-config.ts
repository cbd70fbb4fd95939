/**
 * The typed configuration of `top`, built once from flags and defaults and
 * validated here (ConfigError → exit 2).
 */
import type { AgentOptions } from "../agent/agent.ts";
import { interfaceFilter, InterfacePatternError } from "../agent/interface-filter.ts";
import { GROUPINGS } from "../tui/model/group-flows.ts";
import { SORT_COLUMNS } from "../tui/model/sort-rows.ts";
import { initialViewState, type ViewState } from "../tui/model/view-state.ts";
import { targetUrl } from "../net/transport.ts";
import { ConfigError, parseChoice, parseDuration, parseInteger } from "./parse-values.ts";
import { buildEnrichmentConfig, type EnrichmentFlags } from "./run-config.ts";

export interface TopConfig {
  intervalMs: number;
  once: boolean;
  /** host:port (or URL) of a running agent's API; undefined: load the kernel side here. */
  connect: string | undefined;
  view: ViewState;
  /** For the local source. */
  agent: AgentOptions;
}

export interface TopFlags extends EnrichmentFlags {
  interval: string;
  sort: string;
  reverse?: boolean;
  group: string;
  filter?: string;
  units: string;
  resolve?: boolean;
  once?: boolean;
  connect?: string;
  interfaces?: string;
  excludeInterfaces?: string;
  attachMode: string;
  cacheMaxFlows: string;
}

/** Flags that configure the agent `top` loads itself: given on the command line with --connect, they are refused. */
const LOCAL_ONLY = [
  ["enableProcess", "--enable-process"],
  ["enableDns", "--enable-dns"],
  ["dnsPort", "--dns-port"],
  ["enableRtt", "--enable-rtt"],
  ["enableDrops", "--enable-drops"],
] as const satisfies readonly (readonly [keyof TopFlags, string])[];

export const TOP_DEFAULTS = { interval: "1s", sort: "2s", group: "flow", units: "bytes" } as const;

/**
 * `commandLine`: the flags given as arguments (commander's value source
 * "cli"), not from NETFLOW_* or defaults. With --connect the agent's own
 * flags decide what its flows carry, so the local-only ones given there are
 * a mistake to name; from the environment (set for `run`) they are ignored,
 * like NETFLOW_INTERFACES.
 */
export function buildTopConfig(flags: TopFlags, commandLine: ReadonlySet<string> = new Set()): TopConfig {
  if (flags.connect !== undefined) {
    const local = LOCAL_ONLY.find(([key]) => commandLine.has(key));
    if (local) throw new ConfigError(`${local[1]} cannot be used with --connect: the agent's own flags decide what its flows carry (run ${local[1]} there)`);
  }
  try {
    interfaceFilter(flags.interfaces, flags.excludeInterfaces);
  } catch (error) {
    if (error instanceof InterfacePatternError) throw new ConfigError(error.message);
    throw error;
  }
  const intervalMs = parseDuration("--interval", flags.interval, 100, 60_000);
  const view = initialViewState({
    grouping: parseChoice("--group", flags.group, GROUPINGS),
    sort: parseChoice("--sort", flags.sort, SORT_COLUMNS),
    reverse: flags.reverse ?? false,
    filter: flags.filter ?? "",
    units: parseChoice("--units", flags.units, ["bytes", "bits"] as const),
    resolveNames: flags.resolve ?? false,
  });
  return {
    intervalMs,
    once: flags.once ?? false,
    connect: flags.connect === undefined ? undefined : (targetUrl("--connect", flags.connect), flags.connect.trim()),
    view,
    agent: {
      interfaces: flags.interfaces,
      excludeInterfaces: flags.excludeInterfaces,
      attachMode: parseChoice("--attach-mode", flags.attachMode, ["auto", "tcx", "tc"] as const),
      maxFlows: parseInteger("--cache-max-flows", flags.cacheMaxFlows, 16, 16_777_216),
      minFlows: 4096,
      activeTimeoutMs: intervalMs,
      interfacePollMs: 1000,
      ...buildEnrichmentConfig(flags),
    },
  };
}
