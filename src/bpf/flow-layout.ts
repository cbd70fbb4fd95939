/**
 * The TypeScript side of bpf/flow.h: byte offsets of every field of
 * struct flow_key, struct flow_metrics and struct flow_event (x86-64 and
 * arm64 alike: little-endian, natural alignment).
 *
 * test/bpf/flow-layout.test.ts checks these tables against the BTF of
 * bpf/flow.bpf.o, and the loader checks the sizes against the maps' own.
 */
export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
}

export const FLOW_KEY = {
  size: 44,
  fields: {
    ifindex: { offset: 0, size: 4 },
    eth_protocol: { offset: 4, size: 2 },
    direction: { offset: 6, size: 1 },
    protocol: { offset: 7, size: 1 },
    src_ip: { offset: 8, size: 16 },
    dst_ip: { offset: 24, size: 16 },
    src_port: { offset: 40, size: 2 },
    dst_port: { offset: 42, size: 2 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

export const FLOW_METRICS = {
  size: 104,
  fields: {
    packets: { offset: 0, size: 8 },
    bytes: { offset: 8, size: 8 },
    first_seen_ns: { offset: 16, size: 8 },
    last_seen_ns: { offset: 24, size: 8 },
    tcp_flags: { offset: 32, size: 4 },
    flags: { offset: 36, size: 4 },
    dscp: { offset: 40, size: 1 },
    icmp_type: { offset: 41, size: 1 },
    icmp_code: { offset: 42, size: 1 },
    l2_header_len: { offset: 43, size: 1 },
    src_mac: { offset: 44, size: 6 },
    dst_mac: { offset: 50, size: 6 },
    vlan_id: { offset: 56, size: 2 },
    owner_source: { offset: 58, size: 1 },
    pad: { offset: 59, size: 1 },
    owner_pid: { offset: 60, size: 4 },
    socket_cookie: { offset: 64, size: 8 },
    cgroup_id: { offset: 72, size: 8 },
    owner_comm: { offset: 80, size: 16 },
    sampling: { offset: 96, size: 4 },
    pad2: { offset: 100, size: 4 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

export const FLOW_EVENT = {
  size: 152,
  fields: {
    key: { offset: 0, size: FLOW_KEY.size },
    pad: { offset: 44, size: 4 },
    metrics: { offset: 48, size: FLOW_METRICS.size },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** enum flow_direction */
export const FlowDirection = { ingress: 0, egress: 1 } as const;
/** enum flow_flag */
export const FlowFlag = { fragment: 1, truncated: 2 } as const;
/** enum flow_owner_source: how a flow's process was found (bpf/owner.h). */
export const FlowOwnerSource = { off: 0, socket: 1, connection: 2, listener: 3, unknown: 4, none: 5 } as const;

/** struct sock_owner: value of sock_owners (key: the socket cookie, 8 bytes). */
export const SOCK_OWNER = {
  size: 48,
  fields: {
    cgroup_id: { offset: 0, size: 8 },
    pid: { offset: 8, size: 4 },
    bound_port: { offset: 12, size: 2 },
    local_port: { offset: 14, size: 2 },
    comm: { offset: 16, size: 16 },
    local_ip: { offset: 32, size: 16 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct sock_connection: key of sock_connections (value: the socket cookie). */
export const SOCK_CONNECTION = {
  size: 48,
  fields: {
    netns_cookie: { offset: 0, size: 8 },
    local_ip: { offset: 8, size: 16 },
    remote_ip: { offset: 24, size: 16 },
    local_port: { offset: 40, size: 2 },
    remote_port: { offset: 42, size: 2 },
    protocol: { offset: 44, size: 1 },
    pad: { offset: 45, size: 3 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct sock_closed: a record of the sock_closed ring (a closed socket, see bpf/owner.h). */
export const SOCK_CLOSED = {
  size: 56,
  fields: {
    cookie: { offset: 0, size: 8 },
    connection: { offset: 8, size: 48 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct sock_listener: key of sock_listeners (value: the socket cookie). */
export const SOCK_LISTENER = {
  size: 16,
  fields: {
    netns_cookie: { offset: 0, size: 8 },
    port: { offset: 8, size: 2 },
    protocol: { offset: 10, size: 1 },
    pad: { offset: 11, size: 5 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };
/** struct flow_counters: the kernel's counters, one per-CPU value of the `counters` map. */
export const FLOW_COUNTERS = {
  size: 56,
  fields: {
    ringbuf_packets: { offset: 0, size: 8 },
    dropped_packets: { offset: 8, size: 8 },
    dropped_bytes: { offset: 16, size: 8 },
    map_errors: { offset: 24, size: 8 },
    truncated: { offset: 32, size: 8 },
    flows_inserted: { offset: 40, size: 8 },
    no_flows_map: { offset: 48, size: 8 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct netflow_knobs (bpf/config.h): the whole of .rodata, set before load. */
export const NETFLOW_KNOBS = {
  size: 24,
  fields: {
    use_coarse_clock: { offset: 0, size: 1 },
    percpu_values: { offset: 1, size: 1 },
    use_atomic_or: { offset: 2, size: 1 },
    filter_enabled: { offset: 3, size: 1 },
    filter_default_action: { offset: 4, size: 1 },
    attribute_owners: { offset: 5, size: 1 },
    record_comm: { offset: 6, size: 1 },
    track_dns: { offset: 7, size: 1 },
    netns_cookie: { offset: 8, size: 8 },
    sampling: { offset: 16, size: 4 },
    dns_port: { offset: 20, size: 2 },
    filter_sides: { offset: 22, size: 1 },
    pad2: { offset: 23, size: 1 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** DNS_NAME_BYTES (bpf/flow.h): raw QNAME bytes a dns_record keeps. */
export const DNS_NAME_BYTES = 64;

/** struct dns_query_key: a query waiting for its response (dns_queries). */
export const DNS_QUERY_KEY = {
  size: 44,
  fields: {
    ifindex: { offset: 0, size: 4 },
    src_ip: { offset: 4, size: 16 },
    dst_ip: { offset: 20, size: 16 },
    src_port: { offset: 36, size: 2 },
    dst_port: { offset: 38, size: 2 },
    id: { offset: 40, size: 2 },
    protocol: { offset: 42, size: 1 },
    pad: { offset: 43, size: 1 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct dns_record: value of dns_flows (key: the response's struct flow_key). */
export const DNS_RECORD = {
  size: 80,
  fields: {
    latency_ns: { offset: 0, size: 8 },
    id: { offset: 8, size: 2 },
    flags: { offset: 10, size: 2 },
    name_len: { offset: 12, size: 1 },
    pad: { offset: 13, size: 3 },
    name: { offset: 16, size: DNS_NAME_BYTES },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct dns_counters: one per-CPU value of dns_counters. */
export const DNS_COUNTERS = {
  size: 32,
  fields: {
    queries: { offset: 0, size: 8 },
    responses: { offset: 8, size: 8 },
    matched: { offset: 16, size: 8 },
    malformed: { offset: 24, size: 8 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct rtt_record: value of tcp_rtt (key: the socket's struct sock_connection). */
export const RTT_RECORD = {
  size: 32,
  fields: {
    latest_ns: { offset: 0, size: 8 },
    min_ns: { offset: 8, size: 8 },
    max_ns: { offset: 16, size: 8 },
    samples: { offset: 24, size: 8 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct drop_record: a value of the inner drops maps (bpf/drops.bpf.c), keyed by struct flow_key. */
export const DROP_RECORD = {
  size: 32,
  fields: {
    packets: { offset: 0, size: 8 },
    bytes: { offset: 8, size: 8 },
    last_ns: { offset: 16, size: 8 },
    latest_reason: { offset: 24, size: 4 },
    tcp_flags: { offset: 28, size: 2 },
    tcp_state: { offset: 30, size: 1 },
    pad: { offset: 31, size: 1 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct drop_counters: one per-CPU value of drop_counters. */
export const DROP_COUNTERS = {
  size: 40,
  fields: {
    recorded: { offset: 0, size: 8 },
    map_full: { offset: 8, size: 8 },
    not_ip: { offset: 16, size: 8 },
    no_device: { offset: 24, size: 8 },
    other_netns: { offset: 32, size: 8 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct drop_knobs: the drop object's .rodata. */
export const DROP_KNOBS = {
  size: 16,
  fields: {
    netns_cookie: { offset: 0, size: 8 },
    first_reason: { offset: 8, size: 4 },
    backlog_reason: { offset: 12, size: 4 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** Slots of drop_reasons (DROP_REASON_SLOTS, drops.bpf.c): one per reason value, the last for the rest. */
export const DROP_REASON_SLOTS = 512;

/** enum filter_action */
export const FilterAction = { accept: 0, reject: 1 } as const;
/** enum filter_side */
export const FilterSide = { src: 0, dst: 1 } as const;
/** enum filter_match: a rule's criteria besides its CIDR. */
export const FilterMatch = {
  IPV4: 1 << 0,
  IPV6: 1 << 1,
  PROTOCOL: 1 << 2,
  SRC_PORT: 1 << 3,
  DST_PORT: 1 << 4,
  ANY_PORT: 1 << 5,
  ICMP_TYPE: 1 << 6,
  ICMP_CODE: 1 << 7,
} as const;
/** MAX_FILTER_CHAIN and FILTER_KEY_FIXED_BITS (bpf/flow.h), MAX_FILTER_RULES (bpf/config.h). */
export const MAX_FILTER_CHAIN = 16;
export const FILTER_KEY_FIXED_BITS = 16;
export const MAX_FILTER_RULES = 256;

/** struct filter_key: the LPM trie's key. */
export const FILTER_KEY = {
  size: 24,
  fields: {
    prefix_len: { offset: 0, size: 4 },
    direction: { offset: 4, size: 1 },
    side: { offset: 5, size: 1 },
    addr: { offset: 6, size: 16 },
    pad: { offset: 22, size: 2 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct filter_rule */
export const FILTER_RULE = {
  size: 24,
  fields: {
    sample: { offset: 0, size: 4 },
    id: { offset: 4, size: 2 },
    match: { offset: 6, size: 2 },
    src_port_min: { offset: 8, size: 2 },
    src_port_max: { offset: 10, size: 2 },
    dst_port_min: { offset: 12, size: 2 },
    dst_port_max: { offset: 14, size: 2 },
    action: { offset: 16, size: 1 },
    prefix_len: { offset: 17, size: 1 },
    protocol: { offset: 18, size: 1 },
    icmp_type: { offset: 19, size: 1 },
    icmp_code: { offset: 20, size: 1 },
    pad: { offset: 21, size: 3 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct filter_chain: the trie's value. */
export const FILTER_CHAIN = {
  size: 4 + MAX_FILTER_CHAIN * FILTER_RULE.size,
  fields: {
    count: { offset: 0, size: 4 },
    rules: { offset: 4, size: MAX_FILTER_CHAIN * FILTER_RULE.size },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** struct filter_counter: one per-CPU value of filter_counters. */
export const FILTER_COUNTER = {
  size: 16,
  fields: {
    packets: { offset: 0, size: 8 },
    bytes: { offset: 8, size: 8 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** Per-CPU values are laid out in 8-byte slots, one per possible CPU. */
export function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}
