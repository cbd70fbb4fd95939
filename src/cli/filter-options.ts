/**
 * `run`'s filter flags (--filter, --filter-file, --filter-default) and their
 * validation into a FilterConfig. The grammar is src/filter/filter-rule.ts's.
 */
import { Option } from "commander";
import { readFileSync } from "node:fs";
import { ConfigError } from "../config-error.ts";
import { defaultFilterAction, filterFileRules, parseFilterRules, type FilterConfig, type RuleSource } from "../filter/filter-rule.ts";
import { filterTrieEntries } from "../filter/filter-trie.ts";
import { parseChoice } from "./parse-values.ts";

export interface FilterFlags {
  /** Each --filter's value (NETFLOW_FILTER's when none is given), in order. */
  filter?: string[];
  filterFile?: string;
  filterDefault?: string;
}

/** Repeated --filter values collect in order; each may hold several rules separated by ";". */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function filterOptions(): Option[] {
  return [
    new Option(
      "--filter <rule>",
      "count only what the rules allow; repeatable, or several rules separated by ';'. A rule: accept|reject, then any of " +
        "cidr=CIDR (source or destination), src=CIDR, dst=CIDR, proto=NAME|N (tcp, udp, udplite, sctp, icmp, icmpv6), port=N[-M] (source or destination), " +
        "src-port=N[-M], dst-port=N[-M], dir=ingress|egress, icmp-type=N, icmp-code=N, sample=N " +
        "(e.g. 'reject cidr=fd00::/8 port=1000-2000'). The longest matching CIDR wins (none: /0), then the first given; " +
        "a rejected packet is in no flow",
    )
      .argParser(collect)
      .env("NETFLOW_FILTER"),
    new Option("--filter-file <path>", "filter rules, one per line, # comments; after the --filter rules").env("NETFLOW_FILTER_FILE"),
    new Option(
      "--filter-default <action>",
      "accept or reject what no rule matches, non-IP frames included (default: reject when an accept rule exists, else accept)",
    ).env("NETFLOW_FILTER_DEFAULT"),
  ];
}

/** The rules (none: undefined, the filter is compiled out) and the default action; every rule checked here, once. */
export function buildFilterConfig(flags: FilterFlags): FilterConfig | undefined {
  const given: { text: string; source: RuleSource }[] = [];
  for (const value of flags.filter ?? [])
    for (const text of value.split(";")) if (text.trim()) given.push({ text, source: { flag: "--filter" } });
  if (flags.filterFile !== undefined) {
    let content: string;
    try {
      content = readFileSync(flags.filterFile, "utf8");
    } catch (error) {
      throw new ConfigError(`--filter-file ${flags.filterFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
    }
    given.push(...filterFileRules(flags.filterFile, content));
  }
  const defaultAction = flags.filterDefault === undefined ? undefined : parseChoice("--filter-default", flags.filterDefault, ["accept", "reject"] as const);
  if (given.length === 0) {
    if (defaultAction) throw new ConfigError(`--filter-default applies to filter rules, and no --filter or --filter-file rule is given`);
    return undefined;
  }
  const rules = parseFilterRules(given);
  filterTrieEntries(rules); // rules that cannot all be loaded (too many covering one address) fail here, with exit 2
  return { rules, defaultAction: defaultFilterAction(rules, defaultAction) };
}
