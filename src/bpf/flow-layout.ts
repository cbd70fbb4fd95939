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
  size: 64,
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
    pad: { offset: 58, size: 6 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

export const FLOW_EVENT = {
  size: 112,
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
  size: 3,
  fields: {
    use_coarse_clock: { offset: 0, size: 1 },
    percpu_values: { offset: 1, size: 1 },
    use_atomic_or: { offset: 2, size: 1 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/** Per-CPU values are laid out in 8-byte slots, one per possible CPU. */
export function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}
