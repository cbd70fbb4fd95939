/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Header parsing: Ethernet (+ up to MAX_VLAN_TAGS 802.1Q/802.1ad tags) — or
 * none, on L3 devices (tun, WireGuard, IP tunnels), whose packets start at the
 * IP header and whose protocol the kernel gives in skb->protocol — then IPv4
 * (options, fragments), IPv6 (common extension headers), TCP, UDP, UDP-Lite,
 * SCTP, ICMP, ICMPv6.
 *
 * Reads go through direct packet access, each one bounds-checked against
 * data_end first (the verifier rejects any that is not). A header that does
 * not fit ends parsing: what was read stays in the key, the rest stays zero,
 * and FLOW_FLAG_TRUNCATED is set, so a short packet is never credited with
 * addresses or ports read from bytes that are not its headers.
 *
 * Least privilege: without CAP_PERFMON the verifier refuses packet pointer
 * arithmetic with a variable (register) offset, and subtracting or comparing
 * two packet pointers (Spectre v1 sanitation only covers stack and map
 * values). So direct packet access uses constant offsets only: Ethernet,
 * VLAN tags, an IPv4 header without options, an IPv6 header without
 * extensions and the transport header right behind either: the common case.
 * Headers at a variable offset (IPv4 options, IPv6 extension chains) are
 * read with bpf_skb_load_bytes() at scalar offsets instead.
 */
#ifndef NETFLOW_PARSE_H
#define NETFLOW_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "flow.h"
#include "ipv6-ext.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

#define IP_FRAGMENT_OFFSET_MASK 0x1fff
#define VLAN_VID_MASK 0x0fff

struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct ipv6_ext {
	__u8 next_header;
	__u8 length;
};

/*
 * What the parser learned of one packet. MACs are not copied here: only a
 * new flow needs them, and it reads them from the packet (read_macs).
 */
struct packet {
	struct flow_key key;
	__u16 tcp_flags;
	__u8 dscp;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 flags;
	__u8 l2; /* the packet starts with an Ethernet header (else at L3) */
	__u8 l2_header_len; /* bytes before the IP header */
	__u16 vlan_id;      /* outermost VLAN ID, 0 when untagged */
	/* Bytes from the start of the packet to the end of its L4 header: what every GSO segment repeats. */
	__u16 header_len;
	__u8 ip; /* its IP addresses were read (filter rules can match it) */
	/* The 1-in-N rate it was sampled at (flow_tc sets it after the filter; the parser leaves 0). */
	__u32 sampling;
};

/* Source and destination MACs of the frame, if it has an Ethernet header. */
static __always_inline void read_macs(struct __sk_buff *skb, __u8 *src, __u8 *dst)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return;
	__builtin_memcpy(src, eth->h_source, 6);
	__builtin_memcpy(dst, eth->h_dest, 6);
}

/*
 * 4-in-6 mapping (::ffff:a.b.c.d) so that one key layout holds both families.
 * The first ten bytes are already zero (the caller zeroes the key).
 */
static __always_inline void set_ipv4_mapped(__u8 *dst, __be32 addr)
{
	*(__u16 *)(dst + 10) = 0xffff;
	*(__be32 *)(dst + 12) = addr;
}

/* Transport header at l4: ports, TCP flags, ICMP type/code. */
static __always_inline void parse_transport(struct packet *pkt, __u8 *l4, void *data_end)
{
	switch (pkt->key.protocol) {
	case IPPROTO_TCP:
		/* Flags are bytes 12 (NS in bit 0) and 13 of the header. */
		if ((void *)(l4 + 14) > data_end)
			goto truncated;
		pkt->tcp_flags = ((__u16)(l4[12] & 1) << 8) | l4[13];
		pkt->header_len += (l4[12] >> 4) * 4; /* data offset, in 32-bit words */
		goto ports;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		pkt->header_len += 8;
		goto ports;
	case IPPROTO_SCTP:
		pkt->header_len += 12; /* the common header; chunks are payload */
	ports:
		if ((void *)(l4 + 4) > data_end)
			goto truncated;
		pkt->key.src_port = ((__u16)l4[0] << 8) | l4[1];
		pkt->key.dst_port = ((__u16)l4[2] << 8) | l4[3];
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((void *)(l4 + 2) > data_end)
			goto truncated;
		pkt->icmp_type = l4[0];
		pkt->icmp_code = l4[1];
		pkt->header_len += 8;
		return;
	default:
		return;
	}
truncated:
	pkt->tcp_flags = 0;
	pkt->flags |= FLOW_FLAG_TRUNCATED;
}

/*
 * The same as parse_transport for a transport header at a variable offset.
 * Two copies on purpose: direct access needs each protocol's bounds check
 * next to its reads (the verifier does not tie a later switch on the
 * protocol to an earlier check), while here the bytes it needs are copied to
 * a stack buffer (bpf_skb_load_bytes fails when the packet is shorter, which
 * is a truncation).
 */
static __always_inline void parse_transport_at(struct __sk_buff *skb, struct packet *pkt, __u32 offset)
{
	__u8 l4[14];
	long err;
	switch (pkt->key.protocol) {
	case IPPROTO_TCP:
		err = bpf_skb_load_bytes(skb, offset, l4, 14);
		if (err)
			break;
		pkt->tcp_flags = ((__u16)(l4[12] & 1) << 8) | l4[13];
		pkt->header_len += (l4[12] >> 4) * 4;
		goto ports;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
		err = bpf_skb_load_bytes(skb, offset, l4, 4);
		if (err)
			break;
		pkt->header_len += pkt->key.protocol == IPPROTO_SCTP ? 12 : 8;
	ports:
		pkt->key.src_port = ((__u16)l4[0] << 8) | l4[1];
		pkt->key.dst_port = ((__u16)l4[2] << 8) | l4[3];
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		err = bpf_skb_load_bytes(skb, offset, l4, 2);
		if (err)
			break;
		pkt->icmp_type = l4[0];
		pkt->icmp_code = l4[1];
		pkt->header_len += 8;
		return;
	default:
		return;
	}
	pkt->flags |= FLOW_FLAG_TRUNCATED;
}

static __always_inline void parse_ipv4(struct __sk_buff *skb, struct packet *pkt, struct iphdr *ip,
				       void *data_end)
{
	if ((void *)(ip + 1) > data_end) {
		pkt->flags |= FLOW_FLAG_TRUNCATED;
		return;
	}
	__u32 header_len = ip->ihl * 4;
	if (header_len < sizeof(*ip)) {
		/* A malformed IHL: the addresses cannot be trusted either. */
		pkt->flags |= FLOW_FLAG_TRUNCATED;
		return;
	}
	set_ipv4_mapped(pkt->key.src_ip, ip->saddr);
	set_ipv4_mapped(pkt->key.dst_ip, ip->daddr);
	pkt->ip = 1;
	pkt->key.protocol = ip->protocol;
	pkt->dscp = ip->tos >> 2;
	pkt->header_len += header_len;
	/* Later fragments carry no L4 header: they count on the 3-tuple. */
	if (ip->frag_off & bpf_htons(IP_FRAGMENT_OFFSET_MASK)) {
		pkt->flags |= FLOW_FLAG_FRAGMENT;
		return;
	}
	if (header_len == sizeof(*ip))
		parse_transport(pkt, (__u8 *)(ip + 1), data_end);
	else /* options: the transport header is at a variable offset */
		parse_transport_at(skb, pkt, pkt->header_len);
}

/*
 * The extension header chain from `offset` (the first one, type `next`), read
 * with bpf_skb_load_bytes at scalar offsets, then the transport header.
 */
static __always_inline void parse_ipv6_extensions(struct __sk_buff *skb, struct packet *pkt, __u8 next,
						  __u32 offset)
{
	__u32 start = offset;
#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
		if (!is_ipv6_extension(next))
			break;
		__u8 ext[8];
		__u32 length;
		if (next == IPV6_EXT_FRAGMENT) {
			/*
			 * RFC 8200 4.5: next header in byte 0, offset in bytes 2-3 (upper 13 bits).
			 * Only those 4 bytes are needed: a later fragment carries no transport
			 * header, so it is keyed even when the frame ends inside the
			 * identification field; a first fragment's transport header lies past it.
			 */
			if (bpf_skb_load_bytes(skb, offset, ext, 4))
				goto truncated;
			__u16 fragment_offset = ((__u16)ext[2] << 8 | ext[3]) & 0xfff8;
			next = ext[0];
			if (fragment_offset) {
				pkt->key.protocol = next;
				pkt->flags |= FLOW_FLAG_FRAGMENT;
				return;
			}
			length = 8;
		} else {
			if (bpf_skb_load_bytes(skb, offset, ext, 2))
				goto truncated;
			length = ipv6_extension_length(next, ext[1]);
			next = ext[0];
		}
		offset += length;
		/* Bounds the offset for the verifier; real chains are far shorter. */
		if (offset - start > MAX_HEADER_OFFSET) {
			pkt->key.protocol = next;
			pkt->flags |= FLOW_FLAG_TRUNCATED;
			return;
		}
	}
	pkt->key.protocol = next;
	pkt->header_len = offset;
	parse_transport_at(skb, pkt, offset);
	return;
truncated:
	pkt->key.protocol = next;
	pkt->flags |= FLOW_FLAG_TRUNCATED;
}

static __always_inline void parse_ipv6(struct __sk_buff *skb, struct packet *pkt, struct ipv6hdr *ip,
				       void *data_end)
{
	if ((void *)(ip + 1) > data_end) {
		pkt->flags |= FLOW_FLAG_TRUNCATED;
		return;
	}
	__builtin_memcpy(pkt->key.src_ip, &ip->saddr, 16);
	__builtin_memcpy(pkt->key.dst_ip, &ip->daddr, 16);
	pkt->ip = 1;
	pkt->dscp = ((ip->priority << 4) | (ip->flow_lbl[0] >> 4)) >> 2;
	pkt->header_len += sizeof(*ip);
	if (is_ipv6_extension(ip->nexthdr)) {
		parse_ipv6_extensions(skb, pkt, ip->nexthdr, pkt->header_len);
		return;
	}
	pkt->key.protocol = ip->nexthdr;
	parse_transport(pkt, (__u8 *)(ip + 1), data_end);
}

/*
 * Fills pkt from the packet in skb, seen at `direction`; `l2`: it starts with
 * an Ethernet header. The whole key is zeroed first (the hash covers padding).
 */
static __always_inline void parse_packet(struct __sk_buff *skb, struct packet *pkt, __u8 direction, __u8 l2)
{
	__builtin_memset(pkt, 0, sizeof(*pkt));
	pkt->key.ifindex = skb->ifindex;
	pkt->key.direction = direction;
	pkt->l2 = l2;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	/* A tag the driver or the stack took out of the packet (VLAN acceleration) is the outermost. */
	if (skb->vlan_present)
		pkt->vlan_id = skb->vlan_tci & VLAN_VID_MASK;
	if (!pkt->l2) {
		__be16 l3_proto = skb->protocol;
		/* header_len starts at 0: the packet starts at L3. */
		pkt->key.eth_protocol = bpf_ntohs(l3_proto);
		if (l3_proto == bpf_htons(ETH_P_IP))
			parse_ipv4(skb, pkt, data, data_end);
		else if (l3_proto == bpf_htons(ETH_P_IPV6))
			parse_ipv6(skb, pkt, data, data_end);
		return;
	}

	if ((void *)(eth + 1) > data_end) {
		pkt->flags |= FLOW_FLAG_TRUNCATED;
		return;
	}
	__be16 proto = eth->h_proto;
	void *cursor = eth + 1;
	pkt->header_len = sizeof(*eth);
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_tag *tag = cursor;
		if ((void *)(tag + 1) > data_end) {
			pkt->key.eth_protocol = bpf_ntohs(proto);
			pkt->flags |= FLOW_FLAG_TRUNCATED;
			return;
		}
		/* The outermost tag's VID, even 0 (a priority tag): an accelerated tag is outer to all of these. */
		if (i == 0 && !skb->vlan_present)
			pkt->vlan_id = bpf_ntohs(tag->tci) & VLAN_VID_MASK;
		proto = tag->encapsulated_proto;
		cursor = tag + 1;
		pkt->header_len += sizeof(*tag);
	}
	pkt->key.eth_protocol = bpf_ntohs(proto);
	pkt->l2_header_len = pkt->header_len;

	if (proto == bpf_htons(ETH_P_IP))
		parse_ipv4(skb, pkt, cursor, data_end);
	else if (proto == bpf_htons(ETH_P_IPV6))
		parse_ipv6(skb, pkt, cursor, data_end);
}

#endif /* NETFLOW_PARSE_H */
