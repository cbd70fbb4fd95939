// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The benchmark floor: the least a flow counter can do. No VLANs, no IPv4
 * options, no IPv6 parsing, no timestamps or flags: a 5-tuple key and a
 * per-CPU packet/byte count. bench/ compares flow.bpf.c's cost per packet
 * with floor_count, whose key holds addresses as 16 bytes like any
 * dual-stack flow key, and also reports floor_count_v4key (4-byte
 * addresses), the floor of an IPv4-only design.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct floor_value {
	__u64 packets, bytes;
};

struct floor_key {
	__u8 src[16], dst[16];
	__u16 sport, dport;
	__u8 proto, pad[3];
};

struct floor_key_v4 {
	__u32 src, dst;
	__u16 sport, dport;
	__u8 proto, pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct floor_key);
	__type(value, struct floor_value);
} floor_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct floor_key_v4);
	__type(value, struct floor_value);
} floor_flows_v4 SEC(".maps");

static __always_inline void add(void *map, void *key, __u64 len)
{
	struct floor_value *v = bpf_map_lookup_elem(map, key);
	if (v) {
		v->packets++;
		v->bytes += len;
	} else {
		struct floor_value fresh = {1, len};
		bpf_map_update_elem(map, key, &fresh, BPF_NOEXIST);
	}
}

SEC("tc")
int floor_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u16 *ports = (void *)(ip + 1);
	if ((void *)(ports + 2) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	struct floor_key key = {.sport = ports[0], .dport = ports[1], .proto = ip->protocol};
	*(__u32 *)(key.src + 12) = ip->saddr;
	*(__u32 *)(key.dst + 12) = ip->daddr;
	add(&floor_flows, &key, skb->len);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int floor_count_v4key(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u16 *ports = (void *)(ip + 1);
	if ((void *)(ports + 2) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	struct floor_key_v4 key = {.src = ip->saddr, .dst = ip->daddr,
				   .sport = ports[0], .dport = ports[1], .proto = ip->protocol};
	add(&floor_flows_v4, &key, skb->len);
	return TC_ACT_UNSPEC;
}
