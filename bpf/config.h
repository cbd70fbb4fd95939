/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Every knob of the kernel side in one place. */
#ifndef NETFLOW_CONFIG_H
#define NETFLOW_CONFIG_H

/*
 * The inner map template's size. User space creates the real flows maps
 * itself, sized from their fill between 4096 and --cache-max-flows.
 */
#define FLOWS_MAX_ENTRIES_DEFAULT 4096
/* 52k flow_events (152 bytes + an 8-byte header): a sixth of a second of a 300 kpps overflow between 100 ms reads. */
#define OVERFLOW_RINGBUF_BYTES (8 * 1024 * 1024)

/*
 * Process attribution (owner.h): LRU maps, preallocated by the kernel, so
 * their memory is fixed (README, "Which process"); the least recently used
 * entry makes room when one is full. A socket's entries leave when it closes.
 */
#define SOCK_OWNERS_MAX_ENTRIES 65536      /* socket cookie -> owner */
#define SOCK_CONNECTIONS_MAX_ENTRIES 65536 /* connection 5-tuple -> socket cookie */
#define SOCK_LISTENERS_MAX_ENTRIES 16384   /* bound port -> socket cookie */
/* Closed sockets on their way to user space (56-byte records + 8-byte headers): 4k between two reads. */
#define SOCK_CLOSED_RINGBUF_BYTES (256 * 1024)

/*
 * DNS (dns.h): queries waiting for their response, and the last matched
 * transaction of each flow until user space reads it at eviction. LRU: a
 * query never answered, a flow never evicted, makes room for new ones.
 */
#define DNS_QUERIES_MAX_ENTRIES 65536
#define DNS_FLOWS_MAX_ENTRIES 65536

/* TCP RTT (rtt.h): connections with a sample since the last eviction. LRU: an idle one makes room. */
#define TCP_RTT_MAX_ENTRIES 65536

/*
 * Drops (drops.bpf.c): records kept between two evictions (distinct flows
 * with drops; past it a drop is counted in drop_counters.map_full, the
 * user-space maps are sized by DROPS_MAP_ENTRIES in src/bpf/drop-maps.ts),
 * and the per-reason totals' slots (enum skb_drop_reason has 130 values on
 * 6.18; the last slot holds the rest).
 */
#define DROPS_MAX_ENTRIES 16384
#define DROP_REASON_SLOTS 512

/* Parser bounds: the verifier needs every loop and offset bounded. */
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT_HEADERS 6
/* Offsets past this are not parsed (the packet is counted on what was read). */
#define MAX_HEADER_OFFSET 1024
/* Linear bytes wanted before parsing; skbs with less are pulled once. */
#define PULL_BYTES 128

/*
 * Filter rules (--filter): at most this many (user space checks it, and at
 * most MAX_FILTER_CHAIN, flow.h, covering one address on one side).
 */
#define MAX_FILTER_RULES 256
/* One trie entry per (direction, side, CIDR) a rule names: ≤ 2 × 2 per rule. */
#define FILTER_TRIE_MAX_ENTRIES (4 * MAX_FILTER_RULES)

/*
 * The knobs the loader sets before load, in one struct so that user space
 * writes .rodata by a layout it knows (src/bpf/flow-object.ts, checked
 * against this struct's BTF). const volatile: read-only, and the verifier
 * knows the values, so it never visits the branches a knob turns off.
 */
struct netflow_knobs {
	/* bpf_ktime_get_coarse_ns (kernel 5.11+) instead of the precise clock. */
	__u8 use_coarse_clock;
	/*
	 * The flows maps hold one value per CPU (BPF_MAP_TYPE_PERCPU_HASH: plain
	 * adds, ~6 ns a packet cheaper) or one shared value (BPF_MAP_TYPE_HASH:
	 * atomic adds, memory independent of the CPU count). The loader sets the
	 * inner map type and this knob together.
	 */
	__u8 percpu_values;
	/* BPF_ATOMIC_OR (kernel 5.12): flags ORed atomically into shared values; before, a plain OR. */
	__u8 use_atomic_or;
	/*
	 * Filter rules are loaded (--filter): every packet is matched against
	 * filter_rules before it is counted. Off (no rule), the filter is dead
	 * code the verifier never visits: it costs nothing.
	 */
	__u8 filter_enabled;
	/* enum filter_action for packets no rule matches (non-IP frames among them): --filter-default. */
	__u8 filter_default_action;
	/* --enable-process: a new flow looks up its process (owner.h); off, no lookup at all. */
	__u8 attribute_owners;
	/*
	 * The hooks record the task's command name: bpf_get_current_comm needs
	 * CAP_PERFMON (or CAP_SYS_ADMIN) in cgroup programs; without it, flows
	 * carry pid and cgroup only.
	 */
	__u8 record_comm;
	/*
	 * --enable-dns: UDP packets to or from dns_port are read as DNS (dns.h):
	 * queries timed, responses matched. Off, the verifier never visits it.
	 */
	__u8 track_dns;
	/*
	 * The network namespace of the devices the TC programs run on (the
	 * agent's: it attaches only there), as its cookie (SO_NETNS_COOKIE), so
	 * that a connection or port of a socket in another namespace never
	 * stands for this namespace's traffic. 0: unknown (kernel < 5.14).
	 */
	__u64 netns_cookie;
	/*
	 * --sampling N: each packet is counted with probability 1/N
	 * (bpf_get_prandom_u32() % N == 0), before its flow is looked up; the
	 * accepting filter rule's sample=N overrides it. 1: every packet, and
	 * (without a filter) the verifier never visits the sampling branch.
	 */
	__u32 sampling;
	__u16 dns_port; /* --dns-port, host order (53) */
	/*
	 * The (direction, side) pairs some filter rule has a trie entry for, bit
	 * filter_side_bit(direction, side) (filter.h): a side without one is not
	 * looked up at all (~20 ns a lookup).
	 */
	__u8 filter_sides;
	__u8 pad2;
};

/* drops.bpf.c is its own object, with its own knobs (struct drop_knobs). */
#ifndef NETFLOW_DROPS_OBJECT
const volatile struct netflow_knobs knobs = {
	.use_coarse_clock = 1,
	.percpu_values = 0,
	.use_atomic_or = 1,
	.filter_enabled = 0,
	.filter_default_action = 0,
	.attribute_owners = 0,
	.record_comm = 0,
	.netns_cookie = 0,
	.sampling = 1,
	.track_dns = 0,
	.dns_port = 53,
	.filter_sides = 0,
};
#endif

#endif /* NETFLOW_CONFIG_H */
