/**
 * Filter rules → the entries of the kernel's LPM trie (bpf/flow.h, struct
 * filter_key → struct filter_chain).
 *
 * Each rule is placed at (direction, side, CIDR): both directions without
 * dir=, both sides for cidr= (one per src=/dst=), one side at /0 without a
 * CIDR (anySide: any address matches, so one side is enough). One entry per
 * distinct placement; its chain is every rule placed in the same direction
 * and side whose CIDR covers the entry's (its own included), sorted by
 * (prefix length descending, id ascending). The kernel's lookup returns the
 * longest entry covering the packet's address, and every rule covering the
 * address covers that entry (CIDRs that share an address are nested), so
 * its chain holds all the candidates, in winning order.
 */
import { ConfigError } from "../config-error.ts";
import { prefixContains, type IpPrefix } from "../net/ip-prefix.ts";
import { FilterSide, FlowDirection, MAX_FILTER_CHAIN } from "../bpf/flow-layout.ts";
import { ruleLabel, type FilterRule } from "./filter-rule.ts";

type Direction = "ingress" | "egress";
type Side = "src" | "dst";

export interface FilterTrieEntry {
  direction: Direction;
  side: Side;
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

/**
 * Where a rule without a CIDR sits in each direction: /0 on one side (any
 * address matches, so one side is enough), the source side unless only the
 * destination side has rules with a CIDR in that direction. Then a rule set
 * that names destinations only (dst=, with rules without CIDR) keeps one side
 * and one lookup per packet (knobs.filter_sides).
 */
function anySide(rules: FilterRule[]): Record<Direction, Side> {
  const named = new Set<string>();
  for (const rule of rules)
    if (rule.cidr) for (const placement of placements(rule, { ingress: "src", egress: "src" })) named.add(`${placement.direction}/${placement.side}`);
  const side = (direction: Direction): Side => (named.has(`${direction}/dst`) && !named.has(`${direction}/src`) ? "dst" : "src");
  return { ingress: side("ingress"), egress: side("egress") };
}

function placements(rule: FilterRule, any: Record<Direction, Side>): { direction: Direction; side: Side }[] {
  const directions = rule.direction ? [rule.direction] : (["ingress", "egress"] as const);
  return directions.flatMap((direction) => {
    const sides = !rule.cidr ? [any[direction]] : rule.cidr.side === "either" ? (["src", "dst"] as const) : [rule.cidr.side];
    return sides.map((side) => ({ direction, side }));
  });
}

/** The trie's entries for `rules`; a ConfigError when more than MAX_FILTER_CHAIN rules would cover one address. */
export function filterTrieEntries(rules: FilterRule[]): FilterTrieEntry[] {
  const placed = new Map<string, { direction: Direction; side: Side; rules: FilterRule[] }>();
  const any = anySide(rules);
  for (const rule of rules)
    for (const { direction, side } of placements(rule, any)) {
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

/**
 * knobs.filter_sides (bpf/config.h): bit direction × 2 + side for each
 * (direction, side) holding an entry. The kernel looks up only those: a
 * lookup on a side without one would find nothing.
 */
export function filterSides(entries: FilterTrieEntry[]): number {
  let sides = 0;
  for (const { direction, side } of entries) sides |= 1 << (FlowDirection[direction] * 2 + FilterSide[side]);
  return sides;
}
