/**
 * The kernel/user contract: the TypeScript codec (src/bpf/flow-layout.ts)
 * against the BTF that clang wrote into bpf/flow.bpf.o from bpf/flow.h —
 * every field's offset and size, every struct's size (padding included),
 * every enum value.
 */
import { $ } from "bun";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  FILTER_CHAIN, FILTER_COUNTER, FILTER_KEY, FILTER_RULE, FilterAction, FilterMatch, FilterSide,
  FLOW_COUNTERS, FLOW_EVENT, FLOW_KEY, FLOW_METRICS, FlowDirection, FlowFlag, NETFLOW_KNOBS,
  FlowOwnerSource, RTT_RECORD, DROP_COUNTERS, DROP_KNOBS, DROP_RECORD, DNS_COUNTERS, DNS_QUERY_KEY, DNS_RECORD, SOCK_CLOSED, SOCK_CONNECTION, SOCK_LISTENER, SOCK_OWNER,
} from "../../src/bpf/flow-layout.ts";

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number }[];
  values?: { name: string; val: number }[];
}

/** The BTF types clang wrote into bpf/<name>.bpf.o. */
async function objectBtf(name: string): Promise<BtfType[]> {
  return JSON.parse(await $`bpftool btf dump file ${join(import.meta.dir, "..", "..", "bpf", `${name}.bpf.o`)} -j`.text()).types;
}
/** Layout readers over one object's BTF. */
function readerOf(btf: BtfType[]) {
  const byId = new Map(btf.map((t) => [t.id, t]));
  const named = (kind: string, name: string) => {
    const t = btf.find((x) => x.kind === kind && x.name === name);
    if (!t) throw new Error(`${kind} ${name} not in the object's BTF`);
    return t;
  };
  const sizeOf = (id: number): number => {
    const t = byId.get(id)!;
    switch (t.kind) {
      case "INT": case "STRUCT": case "UNION": case "ENUM": return t.size!;
      case "TYPEDEF": case "VOLATILE": case "CONST": return sizeOf(t.type_id!);
      case "ARRAY": return t.nr_elems! * sizeOf(t.type_id!);
      default: throw new Error(`unexpected BTF kind ${t.kind}`);
    }
  };
  return {
    layoutOf: (structName: string) => {
      const t = named("STRUCT", structName);
      return {
        size: t.size,
        fields: Object.fromEntries(t.members!.map((m) => [m.name, { offset: m.bits_offset / 8, size: sizeOf(m.type_id) }])),
      };
    },
    enumOf: (name: string, prefix: string) => Object.fromEntries(named("ENUM", name).values!.map((v) => [v.name.slice(prefix.length), v.val])),
  };
}

const { layoutOf, enumOf } = readerOf(await objectBtf("flow"));
const drops = readerOf(await objectBtf("drops"));

describe("flow.h ⇄ flow-layout.ts", () => {
  test("struct flow_key", () => expect(layoutOf("flow_key")).toEqual(FLOW_KEY));
  test("struct flow_metrics", () => expect(layoutOf("flow_metrics")).toEqual(FLOW_METRICS));
  test("struct flow_event", () => expect(layoutOf("flow_event")).toEqual(FLOW_EVENT));

  test("struct flow_counters", () => expect(layoutOf("flow_counters")).toEqual(FLOW_COUNTERS));
  test("struct netflow_knobs (all of .rodata)", () => expect(layoutOf("netflow_knobs")).toEqual(NETFLOW_KNOBS));

  test("struct dns_query_key, dns_record, dns_counters", () => {
    expect(layoutOf("dns_query_key")).toEqual(DNS_QUERY_KEY);
    expect(layoutOf("dns_record")).toEqual(DNS_RECORD);
    expect(layoutOf("dns_counters")).toEqual(DNS_COUNTERS);
  });

  test("struct rtt_record", () => {
    expect(layoutOf("rtt_record")).toEqual(RTT_RECORD);
  });

  test("struct filter_key, filter_rule, filter_chain, filter_counter", () => {
    expect(layoutOf("filter_key")).toEqual(FILTER_KEY);
    expect(layoutOf("filter_rule")).toEqual(FILTER_RULE);
    expect(layoutOf("filter_chain")).toEqual(FILTER_CHAIN);
    expect(layoutOf("filter_counter")).toEqual(FILTER_COUNTER);
  });

  test("enum filter_action, filter_side, filter_match", () => {
    expect(enumOf("filter_action", "FILTER_")).toEqual({ ACCEPT: FilterAction.accept, REJECT: FilterAction.reject });
    expect(enumOf("filter_side", "FILTER_SIDE_")).toEqual({ SRC: FilterSide.src, DST: FilterSide.dst });
    expect(enumOf("filter_match", "FILTER_MATCH_")).toEqual(FilterMatch);
  });

  test("struct sock_owner, sock_connection, sock_listener; enum flow_owner_source", () => {
    expect(layoutOf("sock_owner")).toEqual(SOCK_OWNER);
    expect(layoutOf("sock_connection")).toEqual(SOCK_CONNECTION);
    expect(layoutOf("sock_listener")).toEqual(SOCK_LISTENER);
    expect(layoutOf("sock_closed")).toEqual(SOCK_CLOSED);
    const names = Object.fromEntries(Object.entries(FlowOwnerSource).map(([k, v]) => [k.toUpperCase(), v]));
    expect(enumOf("flow_owner_source", "FLOW_OWNER_")).toEqual(names);
  });

  test("enum flow_direction and enum flow_flag", () => {
    expect(enumOf("flow_direction", "FLOW_DIRECTION_")).toEqual({ INGRESS: FlowDirection.ingress, EGRESS: FlowDirection.egress });
    expect(enumOf("flow_flag", "FLOW_FLAG_")).toEqual({ FRAGMENT: FlowFlag.fragment, TRUNCATED: FlowFlag.truncated });
  });
});

describe("flow.h ⇄ flow-layout.ts, as bpf/drops.bpf.o uses it", () => {
  test("struct drop_record, drop_counters, drop_knobs", () => {
    expect(drops.layoutOf("drop_record")).toEqual(DROP_RECORD);
    expect(drops.layoutOf("drop_counters")).toEqual(DROP_COUNTERS);
    expect(drops.layoutOf("drop_knobs")).toEqual(DROP_KNOBS);
  });
});
