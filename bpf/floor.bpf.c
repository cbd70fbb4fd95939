// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The benchmark floor: the least a flow counter can do. IPv4 only, no
 * options, no VLANs, no IPv6, a 5-tuple key and a per-CPU packet/byte count.
 * bench/ compares flow.bpf.c's cost per packet with this one's.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct floor_key {
	__u32 src, dst;
	__u16 sport, dport;
	__u8 proto, pad[3];
};

struct floor_value {
	__u64 packets, bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct floor_key);
	__type(value, struct floor_value);
} floor_flows SEC(".maps");

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
	struct floor_key key = {.src = ip->saddr, .dst = ip->daddr,
				.sport = ports[0], .dport = ports[1], .proto = ip->protocol};
	struct floor_value *v = bpf_map_lookup_elem(&floor_flows, &key);
	if (v) {
		v->packets++;
		v->bytes += skb->len;
	} else {
		struct floor_value fresh = {1, skb->len};
		bpf_map_update_elem(&floor_flows, &key, &fresh, BPF_NOEXIST);
	}
	return TC_ACT_UNSPEC;
}
