// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Drops with their reason (--enable-drops): a BTF-enabled tracepoint on
 * skb:kfree_skb, the kernel's one exit for a packet it drops, with the reason
 * it gives (enum skb_drop_reason, kernel 5.17+).
 *
 * Its own object, apart from flow.bpf.o, because it needs the running
 * kernel's BTF (tp_btf, and CO-RE reads of struct sk_buff): on a kernel
 * without BTF only this object fails to load, and the agent runs everything
 * else. Loading it also needs CAP_PERFMON (a tracing program).
 *
 * For each drop with a reason past NOT_SPECIFIED:
 * - the per-reason total (drop_reasons, per CPU) grows, whatever the packet;
 * - an IP packet on a device of the agent's network namespace is keyed as
 *   the TC programs key its flow (struct flow_key: the device, the direction,
 *   the 5-tuple) and counted in the active drops map (the one inner map of
 *   `drops`, swapped by user space like `flows`: the swap's RCU grace period
 *   makes the drain exact). User space joins the records to the flows at
 *   eviction; a drop with no flow (dropped before the TC egress hook: a
 *   netfilter OUTPUT rule) becomes a drop-only record.
 *
 * Device and direction: skb->skb_iif is the device the packet was last
 * received on (0: made on this host). A packet still on that device
 * (skb->dev == skb_iif) is dropped on ingress; one on another device (a
 * forwarded packet at its egress qdisc) or made here is dropped on egress of
 * skb->dev, or, before the output path set skb->dev (netfilter OUTPUT), of
 * its route's device.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#define NETFLOW_DROPS_OBJECT
#include "config.h"
#include "flow.h"
#include "ipv6-ext.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The kernel types read here, only the fields used: CO-RE relocates each
 * access against the running kernel's BTF (preserve_access_index), so no
 * vmlinux.h and no offsets of our own.
 */
struct net {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct dst_entry {
	struct net_device *dev;
} __attribute__((preserve_access_index));

struct sock_common {
	unsigned char skc_state;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct skb_shared_info {
	unsigned short gso_size;
	unsigned short gso_segs;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned long _skb_refdst;
	unsigned int len;
	int skb_iif;
	__u16 protocol;
	__u16 network_header;
	unsigned int end;
	unsigned char *head;
	unsigned char *data;
} __attribute__((preserve_access_index));

const volatile struct drop_knobs drop_knobs = { .netns_cookie = 0, .first_reason = 3, .backlog_reason = 0 };

/* Not preallocated: drops are rare, memory follows them. User space creates the two real ones alike. */
struct drops_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DROPS_MAX_ENTRIES);
	/* Sizes, not types: an inner map's BTF types would only be forward declarations here. */
	__uint(key_size, sizeof(struct flow_key));
	__uint(value_size, sizeof(struct drop_record));
};

/* Key: 0. Value: the active drops map (struct drops_inner), swapped by user space (src/bpf/drop-maps.ts). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct drops_inner);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_REASON_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} drop_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_counters);
} drop_counters SEC(".maps");

/*
 * A zero record to insert (global data, not the stack: a map value must not
 * be uninitialised stack). Also what gives struct drop_record its BTF in this
 * object, which test/bpf/flow-layout.test.ts checks against flow-layout.ts.
 * The key is built on the stack: a nested run on this CPU (a kfree_skb in an
 * interrupt during this one, on kernels without the tracing recursion guard)
 * cannot overwrite it.
 */
struct drop_record drop_record_zero;

static __always_inline struct drop_counters *counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&drop_counters, &zero);
}

/*
 * The packet's 5-tuple into `key` exactly as parse.h keys it (IPv4-mapped
 * addresses, ports in host order; 0 for ICMP, later fragments, and where
 * the packet ends inside a header: then the key holds what could be read,
 * as TC's does for a truncated packet), its TCP flags into *tcp_flags.
 * `ip`: the network header; `avail`: the packet's bytes from there on (the
 * reads must stop there, as TC's do at data_end: probe reads past it would
 * succeed and read other memory).
 */
static __always_inline void parse_dropped(const unsigned char *ip, __u32 avail, __u16 eth_protocol, struct flow_key *key,
					  __u16 *tcp_flags)
{
	__u32 l4;
	__u8 protocol;
	if (eth_protocol == ETH_P_IP) {
		__u8 h[20];
		if (avail < sizeof(h) || bpf_probe_read_kernel(h, sizeof(h), ip))
			return; /* truncated: no addresses */
		l4 = (h[0] & 0xf) * 4;
		if (l4 < sizeof(h))
			return; /* a malformed IHL: the addresses cannot be trusted either */
		protocol = h[9];
		key->src_ip[10] = 0xff;
		key->src_ip[11] = 0xff;
		key->dst_ip[10] = 0xff;
		key->dst_ip[11] = 0xff;
		__builtin_memcpy(&key->src_ip[12], &h[12], 4);
		__builtin_memcpy(&key->dst_ip[12], &h[16], 4);
		key->protocol = protocol;
		if (((h[6] & 0x1f) << 8 | h[7]) != 0)
			return; /* a later fragment: keyed on the 3-tuple */
	} else {
		__u8 h[40];
		if (avail < sizeof(h) || bpf_probe_read_kernel(h, sizeof(h), ip))
			return;
		protocol = h[6];
		__builtin_memcpy(key->src_ip, &h[8], 16);
		__builtin_memcpy(key->dst_ip, &h[24], 16);
		l4 = 40;
		for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
			if (!is_ipv6_extension(protocol))
				break;
			__u8 ext[4];
			__u32 need = protocol == IPV6_EXT_FRAGMENT ? 4 : 2;
			if (l4 + need > avail || bpf_probe_read_kernel(ext, sizeof(ext), ip + l4)) {
				key->protocol = protocol; /* truncated inside the chain, as parse.h's */
				return;
			}
			__u32 length;
			if (protocol == IPV6_EXT_FRAGMENT) {
				protocol = ext[0];
				if (((__u16)ext[2] << 8 | ext[3]) & 0xfff8) {
					key->protocol = protocol; /* a later fragment */
					return;
				}
				length = 8;
			} else {
				length = ipv6_extension_length(protocol, ext[1]);
				protocol = ext[0];
			}
			l4 += length;
			if (l4 - 40 > MAX_HEADER_OFFSET) {
				key->protocol = protocol;
				return;
			}
		}
		key->protocol = protocol;
	}
	__u32 need = protocol == IPPROTO_TCP ? 14 : 4;
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP && protocol != IPPROTO_UDPLITE && protocol != IPPROTO_SCTP)
		return;
	__u8 l4h[14];
	if (l4 + need > avail || bpf_probe_read_kernel(l4h, need, ip + l4))
		return; /* the transport header is cut: ports 0, as parse.h */
	key->src_port = (__u16)l4h[0] << 8 | l4h[1];
	key->dst_port = (__u16)l4h[2] << 8 | l4h[3];
	if (protocol == IPPROTO_TCP)
		*tcp_flags = ((__u16)(l4h[12] & 1) << 8) | l4h[13];
}

/* The IP packet's length from its header (tot_len; payload_len + 40), bounded by what the skb holds. */
static __always_inline __u64 ip_length(const unsigned char *ip, __u32 avail, __u16 eth_protocol)
{
	__u8 len[2];
	if (bpf_probe_read_kernel(len, 2, ip + (eth_protocol == ETH_P_IP ? 2 : 4)) || avail < 4)
		return avail;
	__u64 bytes = ((__u32)len[0] << 8 | len[1]) + (eth_protocol == ETH_P_IP ? 0 : 40);
	return bytes && bytes <= avail ? bytes : avail;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(drop_trace, struct sk_buff *skb, void *location, unsigned int reason)
{
	/* Below it: not a drop (NOT_DROPPED_YET, CONSUMED) or not known to be one (NOT_SPECIFIED); numbered per kernel. */
	if (reason < drop_knobs.first_reason)
		return 0;
	__u32 slot = reason < DROP_REASON_SLOTS ? reason : DROP_REASON_SLOTS - 1;
	__u64 *total = bpf_map_lookup_elem(&drop_reasons, &slot);
	if (total)
		*total += 1;

	struct drop_counters *c = counters();
	if (!c)
		return 0;
	__u16 eth_protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	if (eth_protocol != ETH_P_IP && eth_protocol != ETH_P_IPV6) {
		c->not_ip += 1;
		return 0;
	}
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	int iif = BPF_CORE_READ(skb, skb_iif);
	if (!dev) {
		struct dst_entry *dst = (struct dst_entry *)(BPF_CORE_READ(skb, _skb_refdst) & ~1UL);
		if (dst)
			dev = BPF_CORE_READ(dst, dev);
	}
	if (!dev) {
		c->no_device += 1;
		return 0;
	}
	if (BPF_CORE_READ(dev, nd_net.net, net_cookie) != drop_knobs.netns_cookie) {
		c->other_netns += 1;
		return 0;
	}

	struct flow_key key;
	__builtin_memset(&key, 0, sizeof(key));
	key.ifindex = BPF_CORE_READ(dev, ifindex);
	/*
	 * Ingress while the packet is on the device it came in on; a packet the
	 * receive path dropped before setting skb_iif (a full backlog queue: veth
	 * scrubs it) is ingress too.
	 */
	key.direction = (iif && iif == (int)key.ifindex) || (drop_knobs.backlog_reason && reason == drop_knobs.backlog_reason)
				? FLOW_DIRECTION_INGRESS
				: FLOW_DIRECTION_EGRESS;
	key.eth_protocol = eth_protocol;

	__u16 network_header = BPF_CORE_READ(skb, network_header);
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *data = BPF_CORE_READ(skb, data);
	/* The packet's bytes from the network header to its end (skb->len counts from data). */
	long avail = (long)BPF_CORE_READ(skb, len) + (data - head) - network_header;
	if (network_header == (__u16)~0U || avail <= 0) {
		c->not_ip += 1;
		return 0;
	}
	__u16 tcp_flags = 0;
	parse_dropped(head + network_header, (__u32)avail, eth_protocol, &key, &tcp_flags);
	__u64 ip_bytes = ip_length(head + network_header, (__u32)avail, eth_protocol);

	__u64 packets = 1;
	struct skb_shared_info *shinfo = (struct skb_shared_info *)(head + BPF_CORE_READ(skb, end));
	if (BPF_CORE_READ(shinfo, gso_size)) {
		/* A GSO skb: its segments, and all its bytes from the network header on (as nft counts it). */
		__u16 segs = BPF_CORE_READ(shinfo, gso_segs);
		packets = segs ? segs : 1;
		ip_bytes = avail;
	}
	__u8 tcp_state = 0;
	struct sock *sk = BPF_CORE_READ(skb, sk);
	if (sk && key.protocol == IPPROTO_TCP)
		tcp_state = BPF_CORE_READ(sk, __sk_common.skc_state);

	__u32 zero = 0;
	void *active = bpf_map_lookup_elem(&drops, &zero);
	if (!active)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct drop_record *known = bpf_map_lookup_elem(active, &key);
	if (!known) {
		/* BPF_NOEXIST: a racing CPU's insert wins, and both add to its record. */
		bpf_map_update_elem(active, &key, &drop_record_zero, BPF_NOEXIST);
		known = bpf_map_lookup_elem(active, &key);
		if (!known) {
			c->map_full += 1;
			return 0;
		}
	}
	__sync_fetch_and_add(&known->packets, packets);
	__sync_fetch_and_add(&known->bytes, ip_bytes);
	known->last_ns = now;
	known->latest_reason = reason;
	known->tcp_flags = tcp_flags;
	known->tcp_state = tcp_state;
	c->recorded += 1;
	return 0;
}
