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
	/*
	 * The process and cgroup that own the flow's local socket (owner.h),
	 * found once, by the packet that inserts the flow: a known flow's packets
	 * never look. enum flow_owner_source says how, or why there is none.
	 */
	__u8 owner_source;
	__u8 pad;
	__u32 owner_pid;     /* tgid of the process that created, bound or connected the socket */
	__u64 socket_cookie; /* SO_COOKIE of that socket (what `ss -e` prints as sk:); 0: none */
	__u64 cgroup_id;     /* cgroup v2 id (the inode of its directory) of that process */
	char owner_comm[16]; /* its command name (task comm), NUL-padded */
	/*
	 * 1-in-N packet sampling (--sampling, or the accepting filter rule's
	 * sample=N): the N the inserting packet was sampled at; packets and
	 * bytes count the sampled packets only (raw, unscaled). 1: every packet.
	 * Written once, like dscp: a flow whose later packets fall under another
	 * rate (an ICMP type rule) keeps the first one's; the key never changes.
	 */
	__u32 sampling;
	__u32 pad2;
};

/* flow_metrics.owner_source: how the flow's process was found. */
enum flow_owner_source {
	FLOW_OWNER_OFF = 0,        /* attribution is off (--enable-process=false) */
	FLOW_OWNER_SOCKET = 1,     /* egress: the packet's own socket, by its cookie */
	FLOW_OWNER_CONNECTION = 2, /* ingress: the local socket of this connection, by the reversed 5-tuple */
	FLOW_OWNER_LISTENER = 3,   /* the socket bound to the local port: a server's listener, an unconnected UDP socket */
	FLOW_OWNER_UNKNOWN = 4,    /* egress from a local socket whose process is not known: cookie and cgroup only */
	FLOW_OWNER_NONE = 5,       /* no local socket: forwarded traffic, or packets the kernel sends itself */
};

/*
 * Value of the sock_owners map (owner.h): who owns a socket. Written by the
 * cgroup socket hooks in the owner's context, and at start by user space for
 * the sockets that were open before (sock_diag + /proc).
 */
struct sock_owner {
	__u64 cgroup_id;
	__u32 pid;
	/*
	 * Where the socket's other entries are, for sock_release, which may not
	 * read a socket's own address and port (the kernel allows those only
	 * in post_bind): the port it is bound to (its sock_listeners key, 0:
	 * none) and the local end of its connection (its sock_connections key
	 * with the peer sock_release can read; port 0: none).
	 */
	__u16 bound_port;
	__u16 local_port;
	char comm[16];
	__u8 local_ip[16];
};

/*
 * Key of the sock_connections map: a local socket's connection as its
 * egress packets carry it (local = source). Addresses as in flow_key.
 * netns_cookie scopes it to one network namespace: the same tuple in another
 * namespace is another socket.
 */
struct sock_connection {
	__u64 netns_cookie;
	__u8 local_ip[16];
	__u8 remote_ip[16];
	__u16 local_port; /* host order */
	__u16 remote_port;
	__u8 protocol;
	__u8 pad[3];
};

/*
 * A closed socket, sent by sock_release through the sock_closed ring: user
 * space deletes its owner and connection entries a grace period later, so
 * the packets a TCP connection still exchanges after close(2) (FIN, the
 * last ACKs) are attributed too. connection.local_port 0: it had none.
 */
struct sock_closed {
	__u64 cookie;
	struct sock_connection connection;
};

/* Key of the sock_listeners map: a bound local port in one network namespace. */
struct sock_listener {
	__u64 netns_cookie;
	__u16 port; /* host order */
	__u8 protocol;
	__u8 pad[5];
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

/*
 * Filter rules (--filter, src/filter/): which packets are counted at all.
 *
 * A rule is a CIDR (on the source, the destination, or either address) ×
 * protocol × ports × direction × ICMP type/code → accept or reject. The
 * winner among the rules that match a packet is the one with the longest
 * CIDR prefix (no CIDR: prefix 0); among equal prefixes the first on the
 * command line. A rejected packet is counted in filter_counters, not in a
 * flow. Non-IP frames (and IP packets cut short before their addresses)
 * match no rule: the default action decides (knobs.filter_default_action).
 *
 * The rules live in an LPM trie (filter_rules, maps.h) keyed by
 * (direction, side, address). User space inserts one entry per (direction,
 * side, CIDR) that some rule names; its value is a struct filter_chain: the
 * rules of that CIDR and of every shorter CIDR covering it (same direction
 * and side), sorted by (prefix length descending, place on the command
 * line). One lookup per side therefore hands back every candidate in
 * winning order, and the first that matches the rest of the packet is that
 * side's winner; of the two sides' winners the better by the same order wins.
 */
enum filter_action {
	FILTER_ACCEPT = 0,
	FILTER_REJECT = 1,
};

/* Which of the packet's addresses a trie entry's CIDR is matched against. */
enum filter_side {
	FILTER_SIDE_SRC = 0,
	FILTER_SIDE_DST = 1,
};

/* filter_rule.match: the criteria a rule has besides its CIDR. */
enum filter_match {
	FILTER_MATCH_IPV4 = 1 << 0,      /* an IPv4 CIDR: only IPv4 packets */
	FILTER_MATCH_IPV6 = 1 << 1,      /* an IPv6 CIDR: only IPv6 packets */
	FILTER_MATCH_PROTOCOL = 1 << 2,  /* protocol == filter_rule.protocol */
	FILTER_MATCH_SRC_PORT = 1 << 3,  /* source port within src_port_min..max */
	FILTER_MATCH_DST_PORT = 1 << 4,  /* destination port within dst_port_min..max */
	FILTER_MATCH_ANY_PORT = 1 << 5,  /* either port within src_port_min..max */
	FILTER_MATCH_ICMP_TYPE = 1 << 6, /* ICMP/ICMPv6 type == icmp_type */
	FILTER_MATCH_ICMP_CODE = 1 << 7, /* ICMP/ICMPv6 code == icmp_code */
};

/* Rules covering one address in one trie entry's chain, at most. */
#define MAX_FILTER_CHAIN 16
/* Bits of filter_key before the address: direction and side, always matched whole. */
#define FILTER_KEY_FIXED_BITS 16

/* Key of filter_rules (BPF_MAP_TYPE_LPM_TRIE: prefix_len, then the bytes it counts). */
struct filter_key {
	__u32 prefix_len; /* FILTER_KEY_FIXED_BITS + the CIDR's bits over the 16-byte address */
	__u8 direction;   /* enum flow_direction */
	__u8 side;        /* enum filter_side */
	__u8 addr[16];    /* IPv6, or IPv4-mapped IPv6 as in flow_key (an IPv4 /24 is 96 + 24 bits) */
	__u8 pad[2];
};

struct filter_rule {
	__u32 sample;     /* sample=N: the packets it accepts are sampled 1 in N instead of at knobs.sampling; 0: none */
	__u16 id;         /* its place on the command line, from 0: breaks ties, and its filter_counters slot */
	__u16 match;      /* enum filter_match */
	__u16 src_port_min; /* FILTER_MATCH_SRC_PORT or FILTER_MATCH_ANY_PORT range, inclusive */
	__u16 src_port_max;
	__u16 dst_port_min; /* FILTER_MATCH_DST_PORT range, inclusive */
	__u16 dst_port_max;
	__u8 action;      /* enum filter_action */
	__u8 prefix_len;  /* the CIDR's bits over the 16-byte address (IPv4 /24: 120); 0 without a CIDR */
	__u8 protocol;    /* IP protocol number (IANA), with FILTER_MATCH_PROTOCOL */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pad[3];
};

/* Value of filter_rules: the candidates for an address, in winning order. */
struct filter_chain {
	__u32 count;
	struct filter_rule rules[MAX_FILTER_CHAIN];
};

/* Value of filter_counters (per CPU): what a rule (or the default action) rejected. */
struct filter_counter {
	__u64 packets; /* on the wire, as flow_metrics counts them */
	__u64 bytes;
};

/*
 * DNS (--enable-dns, dns.h). The 12-byte header (RFC 1035 4.1.1) is read at
 * the UDP payload of packets to or from knobs.dns_port.
 */
#define DNS_NAME_BYTES 64 /* QNAME bytes kept, as on the wire (length-prefixed labels) */

/*
 * Key of dns_queries: a query waiting for its response, as the query
 * carried it (the client is the source). The response looks it up with its
 * addresses and ports swapped. Addresses as in flow_key.
 */
struct dns_query_key {
	__u32 ifindex;
	__u8 src_ip[16];
	__u8 dst_ip[16];
	__u16 src_port; /* host order */
	__u16 dst_port;
	__u16 id;       /* the DNS transaction id, host order */
	__u8 protocol;
	__u8 pad;
};

/*
 * Value of dns_flows, keyed by the flow_key of the flow that carried the
 * response: its last matched transaction. User space reads and deletes it
 * at eviction, beside the flow.
 */
struct dns_record {
	__u64 latency_ns; /* the response's time - its query's (bpf_ktime_get_ns, precise clock) */
	__u16 id;         /* DNS transaction id */
	__u16 flags;      /* header bytes 2-3, host order: QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE (low 4 bits) */
	__u8 name_len;    /* bytes of name copied: min(DNS_NAME_BYTES, what the packet holds after the header) */
	__u8 pad[3];
	__u8 name[DNS_NAME_BYTES]; /* the response's first QNAME, raw; user space decodes the labels */
};

/* Value of dns_counters (per CPU): what the DNS tracker saw. They only grow. */
struct dns_counters {
	__u64 queries;   /* queries seen (QR 0) */
	__u64 responses; /* responses seen (QR 1) */
	__u64 matched;   /* responses whose query was seen: latency recorded */
	__u64 malformed; /* packets to or from the DNS port too short for the header: skipped */
};

/*
 * Value of tcp_rtt (rtt.h; key: struct sock_connection of the socket, local
 * and remote as it sees them, protocol IPPROTO_TCP): the smoothed RTT
 * (srtt_us >> 3, RFC 6298) of its samples since user space last drained it, ns.
 */
struct rtt_record {
	__u64 latest_ns; /* after the last sample */
	__u64 min_ns;
	__u64 max_ns;
	__u64 samples;   /* BPF_SOCK_OPS_RTT_CB calls counted */
};

/*
 * Drops (drops.bpf.c, --enable-drops): value of the inner drops map, keyed by
 * the struct flow_key of the flow the dropped packet belongs to (the device
 * and direction it was dropped on, its 5-tuple). Counts only drops with a
 * reason past SKB_DROP_REASON_NOT_SPECIFIED (an unannotated kfree_skb is not
 * known to be a drop). Counters are added atomically; the rest is the latest
 * drop's.
 */
struct drop_record {
	__u64 packets;       /* dropped packets (a GSO skb counts its segments) */
	__u64 bytes;         /* their IP bytes (header and payload), as nft counters and IPFIX count */
	__u64 last_ns;       /* bpf_ktime_get_ns() of the latest drop: CLOCK_MONOTONIC */
	__u32 latest_reason; /* enum skb_drop_reason of the running kernel (names from its BTF) */
	__u16 tcp_flags;     /* the latest dropped packet's TCP flags (FIN=0x01 ... NS=0x100) */
	__u8 tcp_state;      /* its socket's TCP state (TCP_ESTABLISHED=1 ...); 0: no socket known */
	__u8 pad;
};

/* Key: 0. Value, per CPU: what the drop program saw but could not put on a flow. */
struct drop_counters {
	__u64 recorded;   /* drops put on a flow record */
	__u64 map_full;   /* drops lost: the drops map was full (its record is missing) */
	__u64 not_ip;     /* drops of non-IP packets (ARP, ...): per-reason totals only */
	__u64 no_device;  /* drops with no device (neither skb->dev nor its route's): per-reason totals only */
	__u64 other_netns;/* drops in another network namespace: ignored */
};

/* The drop program's knobs (drops.bpf.c .rodata), set by user space before load. */
struct drop_knobs {
	/* The agent's network namespace (SO_NETNS_COOKIE): drops elsewhere are ignored. */
	__u64 netns_cookie;
	/*
	 * The running kernel's SKB_DROP_REASON_NOT_SPECIFIED + 1: the first reason
	 * counted (the enum was renumbered: NOT_SPECIFIED is 0 on 5.17, 1 on
	 * 5.18-6.2, 2 since CONSUMED came in 6.3). Read from its BTF by user space.
	 */
	__u32 first_reason;
	/* Its SKB_DROP_REASON_CPU_BACKLOG (0: none): such a drop is on the receive path. */
	__u32 backlog_reason;
};

#endif /* NETFLOW_FLOW_H */
