/**
 * The filter typed in the view: words separated by spaces, all of which must
 * match a flow (AND). A word matches when it is part of either address or
 * of a resolved name, equals either port (digits), is part of the interface
 * name, equals the protocol or the direction ("in", "out"), or is part of
 * the owning process's command name, cgroup path or container id
 * (--enable-process); case does not matter. Terms name one field: `pid:4242`
 * (equal), `comm:iperf`, `cgroup:/system.slice`, `container:3f2a` (part of
 * it). The enrichments: `dropped` (flows with drops), `drop:netfilter` (part
 * of the latest drop's reason), `rcode:nxdomain` and `dns:example` (part of
 * the latest DNS response's code or name), `dns>50` `dns<5` `rtt>100`
 * (latency, RTT in ms: more or less than); a flow without the field matches
 * none of them, and a comparison not yet given its number matches every flow
 * that has the field. Applied to flows before grouping, so group totals are
 * of the matching flows only.
 */
import { rcodeName } from "../../flow/flow-dns.ts";
import { rttOf, type FlowStat } from "./flow-table.ts";

/** Name of an address when one has been resolved (undefined otherwise). */
export type NameOf = (addr: string) => string | undefined;

export function filterWords(filter: string): string[] {
  return filter.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
}

const OWNER_TERM = /^(pid|comm|cgroup|container):(.*)$/;

/** A `field:value` term on the owner; undefined when `word` is not one. */
function ownerTermMatches(word: string, f: FlowStat): boolean | undefined {
  const term = OWNER_TERM.exec(word);
  if (!term) return undefined;
  const owner = f.id.owner;
  const value = term[2]!;
  if (!owner) return false;
  switch (term[1]) {
    case "pid": return owner.pid !== 0 && String(owner.pid) === value;
    case "comm": return owner.comm !== "" && owner.comm.toLowerCase().includes(value);
    case "cgroup": return owner.cgroupPath !== undefined && owner.cgroupPath.toLowerCase().includes(value);
    default: return owner.containerId !== undefined && owner.containerId.includes(value);
  }
}

const ENRICHMENT_TERM = /^(?:(dropped)|(drop|rcode|dns):(.*)|(dns|rtt)([<>])(\d*(?:\.\d*)?)(?:ms)?)$/;

/** Whether `ns` is more (`>`) or less (`<`) than `ms`; "" (not typed yet): any. */
function compares(ns: number, op: string, ms: string): boolean {
  if (ms === "" || ms === ".") return true;
  return op === ">" ? ns > Number(ms) * 1e6 : ns < Number(ms) * 1e6;
}

/** A term on DNS, RTT or drops; undefined when `word` is not one. */
function enrichmentTermMatches(word: string, f: FlowStat): boolean | undefined {
  const term = ENRICHMENT_TERM.exec(word);
  if (!term) return undefined;
  if (term[1]) return f.drops !== undefined;
  const value = term[3] ?? "";
  switch (term[2] ?? term[4]) {
    case "drop": return f.drops !== undefined && f.drops.reason.toLowerCase().includes(value);
    case "rcode": return f.dns !== undefined && rcodeName(f.dns.flags).toLowerCase().includes(value);
    case "dns": return f.dns !== undefined && (term[2] ? f.dns.name.toLowerCase().includes(value) : compares(f.dns.latencyNs, term[5]!, term[6]!));
    default: {
      const rtt = rttOf(f);
      return rtt !== undefined && compares(rtt, term[5]!, term[6]!);
    }
  }
}

function ownerWordMatches(word: string, f: FlowStat): boolean {
  const owner = f.id.owner;
  if (!owner) return false;
  return (
    (owner.comm !== "" && owner.comm.toLowerCase().includes(word)) ||
    (owner.cgroupPath !== undefined && owner.cgroupPath.toLowerCase().includes(word)) ||
    (owner.containerId !== undefined && owner.containerId.includes(word))
  );
}

function wordMatches(word: string, f: FlowStat, nameOf: NameOf): boolean {
  const id = f.id;
  const term = ownerTermMatches(word, f) ?? enrichmentTermMatches(word, f);
  if (term !== undefined) return term;
  if (/^\d+$/.test(word) && (id.srcPort === Number(word) || id.dstPort === Number(word))) return true;
  if (id.protocol.toLowerCase() === word) return true;
  if ((id.direction === "ingress" ? "in" : "out") === word) return true;
  if (id.interface.toLowerCase().includes(word)) return true;
  for (const addr of [id.srcAddr, id.dstAddr]) {
    if (addr.toLowerCase().includes(word)) return true;
    const name = nameOf(addr);
    if (name && name.toLowerCase().includes(word)) return true;
  }
  return ownerWordMatches(word, f);
}

export function filterFlows(stats: FlowStat[], filter: string, nameOf: NameOf = () => undefined): FlowStat[] {
  const words = filterWords(filter);
  if (words.length === 0) return stats;
  return stats.filter((f) => words.every((w) => wordMatches(w, f, nameOf)));
}
