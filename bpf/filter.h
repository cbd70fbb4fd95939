/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Filter rules: whether a parsed packet is counted at all.
 *
 * Algorithm (flow.h explains the rules and their trie): two LPM lookups,
 * (direction, source side, source address) and (direction, destination
 * side, destination address); each hands back the chain of rules that cover
 * that address, already in winning order (longest prefix first, then the
 * command line's order). The first rule of a chain whose other criteria
 * (family, protocol, ports, ICMP type/code) match the packet is that side's
 * winner; the better of the two sides' winners decides. No winner, or a
 * frame that is not IP: the default action. A rejected packet is added to
 * its rule's slot of filter_counters (the default's: MAX_FILTER_RULES). An
 * accepted packet takes its rule's sample=N, if any, as its sampling rate.
 *
 * Only compiled in when knobs.filter_enabled: without rules the verifier
 * never visits the call (a const volatile knob is a known constant), and
 * the program never runs any of it.
 */
#ifndef NETFLOW_FILTER_H
#define NETFLOW_FILTER_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "flow.h"
#include "maps.h"
#include "parse.h"

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#define ETH_P_IP_HOST 0x0800
#define ETH_P_IPV6_HOST 0x86DD

/* The protocols whose header starts with source and destination ports (flow_key keeps them). */
static __always_inline int has_ports(__u8 protocol)
{
	return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE ||
	       protocol == IPPROTO_SCTP;
}

static __always_inline int in_range(__u16 value, __u16 min, __u16 max)
{
	return value >= min && value <= max;
}

/* Whether `rule`'s criteria besides its CIDR (already matched by the lookup) hold for `pkt`. */
static __always_inline int rule_matches(const struct filter_rule *rule, const struct packet *pkt)
{
	__u16 match = rule->match;
	if ((match & FILTER_MATCH_IPV4) && pkt->key.eth_protocol != ETH_P_IP_HOST)
		return 0;
	if ((match & FILTER_MATCH_IPV6) && pkt->key.eth_protocol != ETH_P_IPV6_HOST)
		return 0;
	if ((match & FILTER_MATCH_PROTOCOL) && pkt->key.protocol != rule->protocol)
		return 0;
	/* Ports and ICMP type/code are known only when the transport header was read whole. */
	int l4 = !(pkt->flags & (FLOW_FLAG_FRAGMENT | FLOW_FLAG_TRUNCATED));
	if (match & (FILTER_MATCH_SRC_PORT | FILTER_MATCH_DST_PORT | FILTER_MATCH_ANY_PORT)) {
		if (!l4 || !has_ports(pkt->key.protocol))
			return 0;
		int src = in_range(pkt->key.src_port, rule->src_port_min, rule->src_port_max);
		if (match & FILTER_MATCH_ANY_PORT) {
			if (!src && !in_range(pkt->key.dst_port, rule->src_port_min, rule->src_port_max))
				return 0;
		} else {
			if ((match & FILTER_MATCH_SRC_PORT) && !src)
				return 0;
			if ((match & FILTER_MATCH_DST_PORT) &&
			    !in_range(pkt->key.dst_port, rule->dst_port_min, rule->dst_port_max))
				return 0;
		}
	}
	if (match & (FILTER_MATCH_ICMP_TYPE | FILTER_MATCH_ICMP_CODE)) {
		if (!l4 || (pkt->key.protocol != IPPROTO_ICMP && pkt->key.protocol != IPPROTO_ICMPV6))
			return 0;
		if ((match & FILTER_MATCH_ICMP_TYPE) && pkt->icmp_type != rule->icmp_type)
			return 0;
		if ((match & FILTER_MATCH_ICMP_CODE) && pkt->icmp_code != rule->icmp_code)
			return 0;
	}
	return 1;
}

/*
 * A rule's rank in winning order (lower wins: longer prefix, then earlier id)
 * with its action and, in the low 32 bits, its sample=N: a scalar, so the two sides' winners are
 * compared without carrying a pointer per chain position through the
 * verifier (pointers at 16 different offsets per side would multiply its
 * states past its limit; scalars read from a map all look alike to it).
 */
#define FILTER_NO_MATCH (~0ULL)

static __always_inline __u64 rule_verdict(const struct filter_rule *rule)
{
	/* ids are unique, so the action and sample below the id never decide a comparison. */
	return ((__u64)(255 - rule->prefix_len) << 56) | ((__u64)rule->id << 40) | ((__u64)rule->action << 32) |
	       rule->sample;
}

/*
 * Key: 0. Value: the packet being filtered, per CPU: the parser's struct
 * packet, private to the kernel side (so here, not in maps.h). It is how
 * side_verdict, a global function, sees the packet: a global function's
 * arguments can only be the context and scalars before kernel 5.12. A TC
 * program runs to its end on one CPU, BH disabled, so nothing else on this
 * CPU writes the copy in between.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct packet);
} filter_packet SEC(".maps");

/*
 * The verdict of the first rule of the chain covering the packet's `side`
 * address that matches the packet in filter_packet.
 *
 * A global function (not static, not inlined) on purpose: the verifier
 * checks it once, on its own, with every input unknown, instead of once
 * for each state the parser can leave the caller in times each path
 * through the 16 candidates; inlined, the filter multiplied the verifier's
 * work by 80 (450k instructions processed against 5.5k, seconds of load).
 * It returns a scalar, so the caller also has one state after it.
 */
__noinline __u64 side_verdict(__u32 side)
{
	__u32 zero = 0;
	const struct packet *pkt = bpf_map_lookup_elem(&filter_packet, &zero);
	if (!pkt)
		return FILTER_NO_MATCH;
	const __u8 *addr = side == FILTER_SIDE_SRC ? pkt->key.src_ip : pkt->key.dst_ip;
	struct filter_key key = {
		.prefix_len = FILTER_KEY_FIXED_BITS + 128,
		.direction = pkt->key.direction,
		.side = side,
	};
	__builtin_memcpy(key.addr, addr, 16);
	const struct filter_chain *chain = bpf_map_lookup_elem(&filter_rules, &key);
	if (!chain)
		return FILTER_NO_MATCH;
	for (__u32 i = 0; i < MAX_FILTER_CHAIN; i++) {
		if (i >= chain->count)
			break;
		const struct filter_rule *rule = &chain->rules[i];
		if (rule_matches(rule, pkt))
			return rule_verdict(rule);
	}
	return FILTER_NO_MATCH;
}

/*
 * Whether the filter rejects `pkt` (`segs` packets, `len` bytes on the
 * wire); if so it is counted in filter_counters (every rejected packet:
 * the filter runs before sampling). An accepting rule with sample=N sets
 * *sampling to N; otherwise *sampling is left alone (knobs.sampling).
 */
static __always_inline int filter_rejects(const struct packet *pkt, __u64 segs, __u64 len, __u32 *sampling)
{
	if (!knobs.filter_enabled)
		return 0;
	__u8 action = knobs.filter_default_action;
	__u32 slot = MAX_FILTER_RULES;
	__u32 zero = 0;
	struct packet *copy = bpf_map_lookup_elem(&filter_packet, &zero);
	if (copy && pkt->ip) {
		__builtin_memcpy(copy, pkt, sizeof(*pkt));
		__u64 src = side_verdict(FILTER_SIDE_SRC);
		__u64 dst = side_verdict(FILTER_SIDE_DST);
		__u64 winner = dst < src ? dst : src;
		if (winner != FILTER_NO_MATCH) {
			action = (winner >> 32) & 0xff;
			slot = (winner >> 40) & 0xffff;
			if (action != FILTER_REJECT && (__u32)winner != 0)
				*sampling = (__u32)winner;
		}
	}
	if (action != FILTER_REJECT)
		return 0;
	struct filter_counter *counter = bpf_map_lookup_elem(&filter_counters, &slot);
	if (counter) {
		counter->packets += segs;
		counter->bytes += len;
	}
	return 1;
}

#endif /* NETFLOW_FILTER_H */
