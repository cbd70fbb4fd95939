/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Filter rules: whether a parsed packet is counted at all.
 *
 * Algorithm (flow.h explains the rules and their trie): two LPM lookups,
 * (direction, source side, source address) and (direction, destination
 * side, destination address), each skipped when no rule has an entry on
 * that side in that direction (knobs.filter_sides); each hands back the
 * chain of rules that cover that address, already in winning order
 * (longest prefix first, then the command line's order). The first rule
 * of a chain whose other criteria (family, protocol, ports, ICMP
 * type/code) match the packet is that side's winner; the better of the
 * two sides' winners decides. No winner, or a frame that is not IP: the
 * default action. A rejected packet is added to
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

/* knobs.filter_sides' bit for a (direction, side) pair: src/filter/filter-trie.ts filterSides sets them. */
static __always_inline __u8 filter_side_bit(__u8 direction, __u8 side)
{
	return 1 << (direction * 2 + side);
}

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

/*
 * What rule_matches reads of a packet besides its addresses: side_verdict,
 * a global function, gets it as one 64-bit scalar.
 */
struct filter_traits {
	__u16 src_port;
	__u16 dst_port;
	__u8 protocol;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 bits; /* FILTER_TRAIT_* */
};

#define FILTER_TRAIT_IPV4 (1 << 0)
#define FILTER_TRAIT_IPV6 (1 << 1)
#define FILTER_TRAIT_L4 (1 << 2) /* the transport header was read whole: ports and ICMP type/code are known */

_Static_assert(sizeof(struct filter_traits) == 8, "side_verdict takes struct filter_traits as one 64-bit scalar");

/* Whether `rule`'s criteria besides its CIDR (already matched by the lookup) hold for `pkt`. */
static __always_inline int rule_matches(const struct filter_rule *rule, const volatile struct filter_traits *pkt)
{
	__u16 match = rule->match;
	if ((match & FILTER_MATCH_IPV4) && !(pkt->bits & FILTER_TRAIT_IPV4))
		return 0;
	if ((match & FILTER_MATCH_IPV6) && !(pkt->bits & FILTER_TRAIT_IPV6))
		return 0;
	if ((match & FILTER_MATCH_PROTOCOL) && pkt->protocol != rule->protocol)
		return 0;
	int l4 = pkt->bits & FILTER_TRAIT_L4;
	if (match & (FILTER_MATCH_SRC_PORT | FILTER_MATCH_DST_PORT | FILTER_MATCH_ANY_PORT)) {
		if (!l4 || !has_ports(pkt->protocol))
			return 0;
		int src = in_range(pkt->src_port, rule->src_port_min, rule->src_port_max);
		if (match & FILTER_MATCH_ANY_PORT) {
			if (!src && !in_range(pkt->dst_port, rule->src_port_min, rule->src_port_max))
				return 0;
		} else {
			if ((match & FILTER_MATCH_SRC_PORT) && !src)
				return 0;
			if ((match & FILTER_MATCH_DST_PORT) &&
			    !in_range(pkt->dst_port, rule->dst_port_min, rule->dst_port_max))
				return 0;
		}
	}
	if (match & (FILTER_MATCH_ICMP_TYPE | FILTER_MATCH_ICMP_CODE)) {
		if (!l4 || (pkt->protocol != IPPROTO_ICMP && pkt->protocol != IPPROTO_ICMPV6))
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
 * The verdict of the first rule of the chain covering the packet's `side`
 * address (its 16 bytes as two 8-byte words, in memory order) that
 * matches the rest of the packet, `traits` (a struct filter_traits).
 *
 * A global function (not static, not inlined) on purpose: the verifier
 * checks it once, on its own, with every input unknown, instead of once
 * for each state the parser can leave the caller in times each path
 * through the 16 candidates; inlined, the filter multiplied the verifier's
 * work by 80 (450k instructions processed against 5.5k, seconds of load).
 * Its arguments are scalars: before kernel 5.12 a global function takes no
 * pointer but the context, and a per-CPU copy of the packet read back here
 * cost 7-9 ns a packet more. It returns a scalar, so the caller also has one
 * state after it.
 */
__noinline __u64 side_verdict(__u64 addr_word0, __u64 addr_word1, __u64 traits, __u32 direction, __u32 side)
{
	struct filter_key key = {
		.prefix_len = FILTER_KEY_FIXED_BITS + 128,
		.direction = direction,
		.side = side,
	};
	__builtin_memcpy(key.addr, &addr_word0, 8);
	__builtin_memcpy(key.addr + 8, &addr_word1, 8);
	const struct filter_chain *chain = bpf_map_lookup_elem(&filter_rules, &key);
	if (!chain)
		return FILTER_NO_MATCH;
	/*
	 * Read from the stack at each use (volatile): held in registers, the
	 * fields' ranges narrowed by each rule's tests made the loop's states
	 * differ, and the verifier's work tripled.
	 */
	volatile struct filter_traits pkt;
	*(volatile __u64 *)&pkt = traits;
	for (__u32 i = 0; i < MAX_FILTER_CHAIN; i++) {
		if (i >= chain->count)
			break;
		const struct filter_rule *rule = &chain->rules[i];
		if (rule_matches(rule, &pkt))
			return rule_verdict(rule);
	}
	return FILTER_NO_MATCH;
}

/* Word 0 or 1 of a 16-byte address, 8 bytes in memory order, as side_verdict takes it. */
static __always_inline __u64 address_word(const __u8 *addr, int word)
{
	__u64 w;
	__builtin_memcpy(&w, addr + 8 * word, 8);
	return w;
}

/*
 * Whether the filter rejects `pkt` (`segs` packets, `len` bytes on the
 * wire) seen in `direction` (a constant per program, so the verifier drops
 * a side knobs.filter_sides leaves out); if so it is counted in
 * filter_counters (every rejected packet: the filter runs before sampling). An accepting rule with sample=N sets
 * *sampling to N; otherwise *sampling is left alone (knobs.sampling).
 */
static __always_inline int filter_rejects(const struct packet *pkt, __u8 direction, __u64 segs, __u64 len, __u32 *sampling)
{
	if (!knobs.filter_enabled)
		return 0;
	__u8 action = knobs.filter_default_action;
	__u32 slot = MAX_FILTER_RULES;
	if (pkt->ip) {
		struct filter_traits traits = {
			.src_port = pkt->key.src_port,
			.dst_port = pkt->key.dst_port,
			.protocol = pkt->key.protocol,
			.icmp_type = pkt->icmp_type,
			.icmp_code = pkt->icmp_code,
			.bits = (pkt->key.eth_protocol == ETH_P_IP_HOST ? FILTER_TRAIT_IPV4 : 0) |
				(pkt->key.eth_protocol == ETH_P_IPV6_HOST ? FILTER_TRAIT_IPV6 : 0) |
				(pkt->flags & (FLOW_FLAG_FRAGMENT | FLOW_FLAG_TRUNCATED) ? 0 : FILTER_TRAIT_L4),
		};
		__u64 packed;
		__builtin_memcpy(&packed, &traits, sizeof(packed));
		/* A side no rule names in this direction has no trie entry: its lookup would find nothing. */
		__u64 src = FILTER_NO_MATCH;
		__u64 dst = FILTER_NO_MATCH;
		if (knobs.filter_sides & filter_side_bit(direction, FILTER_SIDE_SRC))
			src = side_verdict(address_word(pkt->key.src_ip, 0), address_word(pkt->key.src_ip, 1), packed, direction,
					   FILTER_SIDE_SRC);
		if (knobs.filter_sides & filter_side_bit(direction, FILTER_SIDE_DST))
			dst = side_verdict(address_word(pkt->key.dst_ip, 0), address_word(pkt->key.dst_ip, 1), packed, direction,
					   FILTER_SIDE_DST);
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
