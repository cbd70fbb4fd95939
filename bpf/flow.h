/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel/user contract: every struct and enum that crosses the boundary.
 *
 * src/bpf/flow-layout.ts decodes these byte-by-byte; test/bpf/flow-layout.test.ts
 * compares that codec with the BTF of the compiled object (sizes, offsets,
 * padding), and the loader compares it with the maps' key/value sizes at load.
 * Change both sides together.
 */
#ifndef NETFLOW_FLOW_H
#define NETFLOW_FLOW_H

#include <linux/types.h>

enum flow_direction {
	FLOW_DIRECTION_INGRESS = 0,
	FLOW_DIRECTION_EGRESS = 1,
};

/* flow_metrics.flags */
enum flow_flag {
	FLOW_FLAG_FRAGMENT = 1 << 0,  /* a non-first IP fragment: no L4 header */
	FLOW_FLAG_TRUNCATED = 1 << 1, /* the packet ended inside a header */
};

/*
 * Key of the flows maps. All-zero padding matters: the hash covers every byte,
 * so the parser zeroes the whole key before filling it.
 */
struct flow_key {
	__u32 ifindex;      /* skb->ifindex of the device the program runs on */
	__u16 eth_protocol; /* EtherType (IEEE 802, IANA), host order, after VLAN tags */
	__u8 direction;     /* enum flow_direction */
	__u8 protocol;      /* IP protocol number (IANA); 0 when not IP */
	/* IPv6, or IPv4-mapped IPv6 (RFC 4291 2.5.5.2). Aligned so copies are word-sized. */
	__u8 src_ip[16] __attribute__((aligned(4)));
	__u8 dst_ip[16] __attribute__((aligned(4)));
	__u16 src_port;     /* host order; 0 for ICMP, later fragments, non-L4 */
	__u16 dst_port;
};

/*
 * Value of the flows maps: one copy per flow, shared by every CPU
 * (BPF_MAP_TYPE_HASH, not per-CPU: a per-CPU value costs its size times the
 * possible CPUs, 7 KB a flow on a 128-CPU node). Counters are added with
 * atomic instructions; the rest is written once, by the packet that inserts
 * the flow, so DSCP, ICMP type/code, MACs, VLAN and the link-layer header's
 * length are those of the flow's first packet in the interval (per-CPU values:
 * user space takes them from the copy with the earliest first_seen_ns). Also
 * the packet carried in a flow_event.
 */
struct flow_metrics {
	__u64 packets;       /* packets on the wire: a GSO/GRO skb counts its segments */
	__u64 bytes;         /* their bytes: skb->len plus the headers each further segment repeats */
	__u64 first_seen_ns; /* bpf_ktime_get(_coarse)_ns(): CLOCK_MONOTONIC */
	__u64 last_seen_ns;  /* a plain store: among racing CPUs, the last writer's time */
	__u32 tcp_flags;     /* OR of TCP flags: FIN=0x01 ... CWR=0x80, NS=0x100 (RFC 9293, 3540) */
	__u32 flags;         /* enum flow_flag, ORed */
	__u8 dscp;           /* RFC 2474: IPv4 TOS or IPv6 traffic class >> 2 */
	__u8 icmp_type;      /* ICMP/ICMPv6 type and code */
	__u8 icmp_code;
	/*
	 * Bytes before the IP header: Ethernet + in-packet VLAN tags, 0 on L3
	 * devices. Every segment carries it, so IP bytes = bytes - packets * this
	 * (what IPFIX octetDeltaCount counts, RFC 7012).
	 */
	__u8 l2_header_len;
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u16 vlan_id; /* 802.1Q VLAN ID of the outermost tag (in skb metadata or in the packet); 0: untagged */
	__u8 pad[6];
};

/* A packet that found the flows map full, carried to user space by the ring buffer. */
struct flow_event {
	struct flow_key key;
	__u32 pad;
	struct flow_metrics metrics; /* one packet (or one GSO skb's segments) */
};

/*
 * The kernel's counters: the single value (per CPU) of the `counters` map,
 * so user space reads them all with one lookup. They only grow.
 */
struct flow_counters {
	__u64 ringbuf_packets; /* packets carried by the ring buffer (map full) */
	__u64 dropped_packets; /* ring buffer full too: packets not accounted in any flow */
	__u64 dropped_bytes;
	__u64 map_errors;      /* map updates failing for a reason other than full */
	__u64 truncated;       /* packets that ended inside a header */
	__u64 flows_inserted;  /* flows inserted into a flows map: its fill, for early eviction */
	__u64 no_flows_map;    /* packets seen while no flows map was installed (never, once loaded) */
};

#endif /* NETFLOW_FLOW_H */
