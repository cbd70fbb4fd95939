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

#define SKB_DROP_REASON_NOT_SPECIFIED 2

const volatile struct drop_knobs drop_knobs = { .netns_cookie = 0 };

/* Not preallocated: drops are rare, memory follows them. User space creates the two real ones alike. */
struct drops_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DROPS_MAX_ENTRIES);
	__type(key, struct flow_key);
	__type(value, struct drop_record);
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
 * Per-CPU room for the key being built and a fresh record (the stack is
 * small); also what gives both types their BTF, which the inner maps' key
 * and value are checked against (test/bpf/flow-layout.test.ts).
 */
struct drop_scratch {
	struct flow_key key;
	struct drop_record fresh;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_scratch);
} drop_scratch SEC(".maps");

static __always_inline struct drop_counters *counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&drop_counters, &zero);
}

/*
 * The packet's 5-tuple into `key` as parse.h writes it (IPv4-mapped
 * addresses, ports in host order, 0 for ICMP and later fragments), its IP
 * bytes into *ip_bytes and TCP flags into *tcp_flags. 0: parsed; -1: not
 * readable.
 */
static __always_inline int parse_dropped(const unsigned char *ip, __u16 eth_protocol, struct flow_key *key, __u64 *ip_bytes,
					 __u16 *tcp_flags)
{
	__u32 l4 = 0;
	__u8 protocol;
	int later_fragment = 0;
	if (eth_protocol == ETH_P_IP) {
		__u8 h[20];
		if (bpf_probe_read_kernel(h, sizeof(h), ip))
			return -1;
		if ((h[0] >> 4) != 4)
			return -1;
		l4 = (h[0] & 0xf) * 4;
		*ip_bytes = (__u32)h[2] << 8 | h[3];
		protocol = h[9];
		later_fragment = ((h[6] & 0x1f) << 8 | h[7]) != 0; /* fragment offset */
		key->src_ip[10] = 0xff;
		key->src_ip[11] = 0xff;
		key->dst_ip[10] = 0xff;
		key->dst_ip[11] = 0xff;
		__builtin_memcpy(&key->src_ip[12], &h[12], 4);
		__builtin_memcpy(&key->dst_ip[12], &h[16], 4);
	} else {
		__u8 h[40];
		if (bpf_probe_read_kernel(h, sizeof(h), ip))
			return -1;
		if ((h[0] >> 4) != 6)
			return -1;
		*ip_bytes = ((__u32)h[4] << 8 | h[5]) + 40;
		protocol = h[6];
		__builtin_memcpy(key->src_ip, &h[8], 16);
		__builtin_memcpy(key->dst_ip, &h[24], 16);
		l4 = 40;
		for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
			if (!is_ipv6_extension(protocol))
				break;
			__u8 ext[4];
			if (bpf_probe_read_kernel(ext, sizeof(ext), ip + l4))
				return -1;
			if (protocol == IPV6_EXT_FRAGMENT) {
				later_fragment = ((__u16)ext[2] << 8 | ext[3]) & 0xfff8;
				protocol = ext[0];
				l4 += 8;
				if (later_fragment)
					break;
				continue;
			}
			__u32 length = ipv6_extension_length(protocol, ext[1]);
			protocol = ext[0];
			l4 += length;
		}
	}
	key->protocol = protocol;
	if (later_fragment)
		return 0;
	if (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE || protocol == IPPROTO_SCTP) {
		__u8 l4h[14];
		if (bpf_probe_read_kernel(l4h, protocol == IPPROTO_TCP ? 14 : 4, ip + (l4 & 0x3ff)))
			return 0; /* counted on what was read, as parse.h does */
		key->src_port = (__u16)l4h[0] << 8 | l4h[1];
		key->dst_port = (__u16)l4h[2] << 8 | l4h[3];
		if (protocol == IPPROTO_TCP)
			*tcp_flags = ((__u16)(l4h[12] & 1) << 8) | l4h[13];
	}
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(drop_trace, struct sk_buff *skb, void *location, unsigned int reason)
{
	if (reason <= SKB_DROP_REASON_NOT_SPECIFIED)
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

	__u32 zero = 0;
	struct drop_scratch *scratch = bpf_map_lookup_elem(&drop_scratch, &zero);
	if (!scratch)
		return 0;
	struct flow_key *key = &scratch->key;
	__builtin_memset(key, 0, sizeof(*key));
	key->ifindex = BPF_CORE_READ(dev, ifindex);
	key->direction = iif && iif == (int)key->ifindex ? FLOW_DIRECTION_INGRESS : FLOW_DIRECTION_EGRESS;
	key->eth_protocol = eth_protocol;

	__u16 network_header = BPF_CORE_READ(skb, network_header);
	unsigned char *head = BPF_CORE_READ(skb, head);
	if (network_header == (__u16)~0U) {
		c->not_ip += 1;
		return 0;
	}
	__u64 ip_bytes = 0;
	__u16 tcp_flags = 0;
	if (parse_dropped(head + network_header, eth_protocol, key, &ip_bytes, &tcp_flags)) {
		c->not_ip += 1;
		return 0;
	}

	__u64 packets = 1;
	struct skb_shared_info *shinfo = (struct skb_shared_info *)(head + BPF_CORE_READ(skb, end));
	if (BPF_CORE_READ(shinfo, gso_size)) {
		/* A GSO skb: its segments, and its bytes from the network header on. */
		__u16 segs = BPF_CORE_READ(shinfo, gso_segs);
		packets = segs ? segs : 1;
		unsigned char *data = BPF_CORE_READ(skb, data);
		ip_bytes = BPF_CORE_READ(skb, len) + (data - head) - network_header;
	}
	__u8 tcp_state = 0;
	struct sock *sk = BPF_CORE_READ(skb, sk);
	if (sk && key->protocol == IPPROTO_TCP)
		tcp_state = BPF_CORE_READ(sk, __sk_common.skc_state);

	void *active = bpf_map_lookup_elem(&drops, &zero);
	if (!active)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct drop_record *known = bpf_map_lookup_elem(active, key);
	if (!known) {
		__builtin_memset(&scratch->fresh, 0, sizeof(scratch->fresh));
		/* BPF_NOEXIST: a racing CPU's insert wins, and both add to its record. */
		bpf_map_update_elem(active, key, &scratch->fresh, BPF_NOEXIST);
		known = bpf_map_lookup_elem(active, key);
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
