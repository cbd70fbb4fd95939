/**
 * The filter's maps (bpf/maps.h): filter_rules, the LPM trie of rule chains
 * written once after load, before any program is attached; and
 * filter_counters, what each rule (and the default action) rejected, per CPU.
 * Encodes src/filter's trie entries byte-by-byte as bpf/flow.h lays them out
 * (flow-layout.ts, checked against the object's BTF by the layout test).
 * Holds the maps' fds, owned by the FlowObject.
 */
import type { FilterActionName, FilterRule } from "../filter/filter-rule.ts";
import type { FilterTrieEntry } from "../filter/filter-trie.ts";
import {
  FILTER_CHAIN, FILTER_COUNTER, FILTER_KEY, FILTER_KEY_FIXED_BITS, FILTER_RULE, FilterAction, FilterMatch, FilterSide, FlowDirection, MAX_FILTER_RULES,
  perCpuStride,
} from "./flow-layout.ts";
import { mapLookup, mapUpdate } from "./libbpf.ts";

/** What one rule, or the default action, rejected: packets on the wire and their bytes. */
export interface FilterRejected {
  packets: number;
  bytes: number;
}

export interface FilterCounts {
  /** By rule id (its place among the rules). Accept rules stay at 0. */
  byRule: FilterRejected[];
  /** Rejected by --filter-default (no rule matched, or not IP). */
  byDefault: FilterRejected;
  /** All of it. */
  total: FilterRejected;
}

export function encodeFilterKey(entry: Pick<FilterTrieEntry, "direction" | "side" | "prefix">): Uint8Array {
  const key = new Uint8Array(FILTER_KEY.size);
  const F = FILTER_KEY.fields;
  new DataView(key.buffer).setUint32(F.prefix_len.offset, FILTER_KEY_FIXED_BITS + entry.prefix.bits, true);
  key[F.direction.offset] = FlowDirection[entry.direction];
  key[F.side.offset] = FilterSide[entry.side];
  key.set(entry.prefix.bytes, F.addr.offset);
  return key;
}

/** A lookup key for one packet address (all 128 bits), as the program builds it. */
export function filterLookupKey(direction: "ingress" | "egress", side: "src" | "dst", address: Uint8Array): Uint8Array {
  return encodeFilterKey({ direction, side, prefix: { bytes: address, bits: 128 } });
}

function encodeRule(view: DataView, at: number, rule: FilterRule, action: FilterActionName) {
  const F = FILTER_RULE.fields;
  let match = 0;
  if (rule.cidr) match |= rule.cidr.family === 4 ? FilterMatch.IPV4 : FilterMatch.IPV6;
  if (rule.protocol !== undefined) {
    match |= FilterMatch.PROTOCOL;
    view.setUint8(at + F.protocol.offset, rule.protocol);
  }
  const src = rule.port ?? rule.srcPort;
  if (rule.port) match |= FilterMatch.ANY_PORT;
  else if (rule.srcPort) match |= FilterMatch.SRC_PORT;
  if (rule.dstPort) match |= FilterMatch.DST_PORT;
  if (src) {
    view.setUint16(at + F.src_port_min.offset, src.min, true);
    view.setUint16(at + F.src_port_max.offset, src.max, true);
  }
  if (rule.dstPort) {
    view.setUint16(at + F.dst_port_min.offset, rule.dstPort.min, true);
    view.setUint16(at + F.dst_port_max.offset, rule.dstPort.max, true);
  }
  if (rule.icmpType !== undefined) {
    match |= FilterMatch.ICMP_TYPE;
    view.setUint8(at + F.icmp_type.offset, rule.icmpType);
  }
  if (rule.icmpCode !== undefined) {
    match |= FilterMatch.ICMP_CODE;
    view.setUint8(at + F.icmp_code.offset, rule.icmpCode);
  }
  view.setUint32(at + F.sample.offset, rule.sample ?? 0, true);
  view.setUint16(at + F.id.offset, rule.id, true);
  view.setUint16(at + F.match.offset, match, true);
  view.setUint8(at + F.action.offset, FilterAction[action]);
  view.setUint8(at + F.prefix_len.offset, rule.cidr?.prefix.bits ?? 0);
}

export function encodeFilterChain(rules: FilterRule[]): Uint8Array {
  const value = new Uint8Array(FILTER_CHAIN.size);
  const view = new DataView(value.buffer);
  view.setUint32(FILTER_CHAIN.fields.count.offset, rules.length, true);
  rules.forEach((rule, i) => encodeRule(view, FILTER_CHAIN.fields.rules.offset + i * FILTER_RULE.size, rule, rule.action));
  return value;
}

export class FilterMaps {
  private readonly counterKey = new Uint8Array(4);
  private readonly counterValues: BigUint64Array;

  constructor(
    private readonly rulesFd: number,
    private readonly countersFd: number,
    private readonly cpus: number,
    /** Rules loaded, in id order. */
    readonly rules: FilterRule[],
  ) {
    this.counterValues = new BigUint64Array((perCpuStride(FILTER_COUNTER.size) / 8) * cpus);
  }

  /** Writes the trie; call before any program that reads it is attached. */
  install(entries: FilterTrieEntry[]) {
    for (const entry of entries) mapUpdate(this.rulesFd, encodeFilterKey(entry), encodeFilterChain(entry.rules));
  }

  /** The chain a lookup of `address` finds (all 128 bits), decoded to rule ids; undefined when none covers it. */
  lookupChain(direction: "ingress" | "egress", side: "src" | "dst", address: Uint8Array): number[] | undefined {
    const value = new Uint8Array(FILTER_CHAIN.size);
    if (!mapLookup(this.rulesFd, filterLookupKey(direction, side, address), value)) return undefined;
    const view = new DataView(value.buffer);
    const count = view.getUint32(0, true);
    return Array.from({ length: count }, (_, i) => view.getUint16(FILTER_CHAIN.fields.rules.offset + i * FILTER_RULE.size + FILTER_RULE.fields.id.offset, true));
  }

  private slot(id: number): FilterRejected {
    this.counterKey.set(new Uint8Array(new Uint32Array([id]).buffer));
    if (!mapLookup(this.countersFd, this.counterKey, new Uint8Array(this.counterValues.buffer))) return { packets: 0, bytes: 0 };
    const words = perCpuStride(FILTER_COUNTER.size) / 8;
    let packets = 0;
    let bytes = 0;
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      packets += Number(this.counterValues[cpu * words]!);
      bytes += Number(this.counterValues[cpu * words + 1]!);
    }
    return { packets, bytes };
  }

  /** What was rejected since load, per rule and by default: one lookup per reject rule, plus one. */
  readCounts(): FilterCounts {
    const byRule = this.rules.map((rule) => (rule.action === "reject" ? this.slot(rule.id) : { packets: 0, bytes: 0 }));
    const byDefault = this.slot(MAX_FILTER_RULES);
    const total = { packets: byDefault.packets, bytes: byDefault.bytes };
    for (const r of byRule) {
      total.packets += r.packets;
      total.bytes += r.bytes;
    }
    return { byRule, byDefault, total };
  }
}
