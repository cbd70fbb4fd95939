/**
 * Filter rules → the entries of the kernel's LPM trie (bpf/flow.h, struct
 * filter_key → struct filter_chain).
 *
 * Each rule is placed at (direction, side, CIDR): both directions without
 * dir=, both sides for cidr= (one per src=/dst=), the source side at /0
 * without a CIDR (any address matches, so one side is enough). One entry per
 * distinct placement; its chain is every rule placed in the same direction
 * and side whose CIDR covers the entry's (its own included), sorted by
 * (prefix length descending, id ascending). The kernel's lookup returns the
 * longest entry covering the packet's address, and every rule covering the
 * address covers that entry (CIDRs that share an address are nested), so
 * its chain holds all the candidates, in winning order.
 */
import { ConfigError } from "../config-error.ts";
import { prefixContains, type IpPrefix } from "../net/ip-prefix.ts";
import { MAX_FILTER_CHAIN } from "../bpf/flow-layout.ts";
import { ruleLabel, type FilterRule } from "./filter-rule.ts";

export interface FilterTrieEntry {
  direction: "ingress" | "egress";
  side: "src" | "dst";
  prefix: IpPrefix;
  /** The candidates for an address this entry is the longest match of, in winning order. */
  rules: FilterRule[];
}

const ANY: IpPrefix = { bytes: new Uint8Array(16), bits: 0 };

/** A rule's prefix over the 16-byte address: /0 without a CIDR. */
export function rulePrefix(rule: FilterRule): IpPrefix {
  return rule.cidr?.prefix ?? ANY;
}

/** Winning order among rules covering one address: longest prefix first, then the order given. */
export function winningOrder(a: FilterRule, b: FilterRule): number {
  return rulePrefix(b).bits - rulePrefix(a).bits || a.id - b.id;
}

function placements(rule: FilterRule): { direction: "ingress" | "egress"; side: "src" | "dst" }[] {
  const directions = rule.direction ? [rule.direction] : (["ingress", "egress"] as const);
  const sides = !rule.cidr ? (["src"] as const) : rule.cidr.side === "either" ? (["src", "dst"] as const) : [rule.cidr.side];
  return directions.flatMap((direction) => sides.map((side) => ({ direction, side })));
}

/** The trie's entries for `rules`; a ConfigError when more than MAX_FILTER_CHAIN rules would cover one address. */
export function filterTrieEntries(rules: FilterRule[]): FilterTrieEntry[] {
  const placed = new Map<string, { direction: "ingress" | "egress"; side: "src" | "dst"; rules: FilterRule[] }>();
  for (const rule of rules)
    for (const { direction, side } of placements(rule)) {
      const where = `${direction}/${side}`;
      if (!placed.has(where)) placed.set(where, { direction, side, rules: [] });
      placed.get(where)!.rules.push(rule);
    }
  const entries: FilterTrieEntry[] = [];
  for (const { direction, side, rules: here } of placed.values()) {
    const prefixes = new Map<string, IpPrefix>();
    for (const rule of here) {
      const prefix = rulePrefix(rule);
      prefixes.set(`${prefix.bits}/${prefix.bytes.join(".")}`, prefix);
    }
    for (const prefix of prefixes.values()) {
      const chain = here.filter((r) => rulePrefix(r).bits <= prefix.bits && prefixContains(rulePrefix(r), prefix.bytes)).sort(winningOrder);
      if (chain.length > MAX_FILTER_CHAIN) {
        const own = chain[0]!;
        throw new ConfigError(
          `--filter: ${chain.length} rules apply to the addresses of ${ruleLabel(own)} (${direction}, ${side === "src" ? "source" : "destination"} side), at most ${MAX_FILTER_CHAIN} may cover one address`,
        );
      }
      entries.push({ direction, side, prefix, rules: chain });
    }
  }
  return entries;
}
