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
  size: 56,
  fields: {
    packets: { offset: 0, size: 8 },
    bytes: { offset: 8, size: 8 },
    first_seen_ns: { offset: 16, size: 8 },
    last_seen_ns: { offset: 24, size: 8 },
    tcp_flags: { offset: 32, size: 2 },
    dscp: { offset: 34, size: 1 },
    icmp_type: { offset: 35, size: 1 },
    icmp_code: { offset: 36, size: 1 },
    src_mac: { offset: 37, size: 6 },
    dst_mac: { offset: 43, size: 6 },
    flags: { offset: 49, size: 1 },
    pad: { offset: 50, size: 6 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

export const FLOW_EVENT = {
  size: 104,
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
/** enum flow_counter */
export const FlowCounter = {
  ringbufPackets: 0,
  droppedPackets: 1,
  droppedBytes: 2,
  mapErrors: 3,
  truncated: 4,
} as const;
export const FLOW_COUNTER_COUNT = 5;

/** Per-CPU values are laid out in 8-byte slots, one per possible CPU. */
export function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}
