/**
 * The filter typed in the view: words separated by spaces, all of which must
 * match a flow (AND). A word matches when it is part of either address or
 * of a resolved name, equals either port (digits), is part of the interface
 * name, or equals the protocol or the direction ("in", "out"); case does not
 * matter. Applied to flows before grouping, so group totals are of the
 * matching flows only.
 */
import type { FlowStat } from "./flow-table.ts";

/** Name of an address when one has been resolved (undefined otherwise). */
export type NameOf = (addr: string) => string | undefined;

export function filterWords(filter: string): string[] {
  return filter.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
}

function wordMatches(word: string, f: FlowStat, nameOf: NameOf): boolean {
  const id = f.id;
  if (/^\d+$/.test(word) && (id.srcPort === Number(word) || id.dstPort === Number(word))) return true;
  if (id.protocol.toLowerCase() === word) return true;
  if ((id.direction === "ingress" ? "in" : "out") === word) return true;
  if (id.interface.toLowerCase().includes(word)) return true;
  for (const addr of [id.srcAddr, id.dstAddr]) {
    if (addr.toLowerCase().includes(word)) return true;
    const name = nameOf(addr);
    if (name && name.toLowerCase().includes(word)) return true;
  }
  return false;
}

export function filterFlows(stats: FlowStat[], filter: string, nameOf: NameOf = () => undefined): FlowStat[] {
  const words = filterWords(filter);
  if (words.length === 0) return stats;
  return stats.filter((f) => words.every((w) => wordMatches(w, f, nameOf)));
}
