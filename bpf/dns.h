/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * DNS latency (--enable-dns): UDP and TCP packets to or from knobs.dns_port.
 *
 * Algorithm: read the 12-byte DNS header (RFC 1035 4.1.1) at the UDP payload,
 * or after the 2-byte length at the start of a TCP segment's payload (a
 * segment that continues a message is read as one too: its "id" then
 * matches no query but by chance), with bpf_skb_load_bytes (it fails when the packet is shorter: counted as
 * malformed, skipped; the packet is still counted in its flow). A query
 * (QR 0) stores bpf_ktime_get_ns() in dns_queries under {ifindex, 5-tuple,
 * id} with BPF_NOEXIST, so a retransmitted query keeps the first time. A
 * response (QR 1) looks up the key with addresses and ports swapped; when
 * found: latency = now - stored, the entry is deleted, and a dns_record
 * (latency, id, flags, the first QNAME's raw bytes up to DNS_NAME_BYTES) is
 * written in dns_flows under the response's flow_key, for user space to join
 * at eviction. A response without its query (another id, a query seen on
 * another interface or before the agent started) records nothing.
 *
 * The name is copied raw, with one bounded bpf_skb_load_bytes, and decoded in
 * user space: no per-label loop for the verifier to walk.
 *
 * The precise clock on both sides: the coarse one ticks every 1-4 ms.
 * Only DNS packets pay for any of this; with knobs.track_dns 0 the verifier
 * never visits it.
 */
#ifndef NETFLOW_DNS_H
#define NETFLOW_DNS_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "flow.h"
#include "maps.h"
#include "parse.h"

#define DNS_HEADER_BYTES 12
#define DNS_FLAG_QR 0x8000

static __always_inline struct dns_counters *dns_counters_of_this_cpu(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&dns_counters, &zero);
}

/* Reads the DNS message in pkt's UDP payload, if it is to or from the DNS port; `pkt` was parsed whole. */
static __always_inline void track_dns(struct __sk_buff *skb, const struct packet *pkt)
{
	if (!knobs.track_dns)
		return;
	if (pkt->key.protocol != IPPROTO_UDP && pkt->key.protocol != IPPROTO_TCP)
		return;
	if (pkt->flags & (FLOW_FLAG_FRAGMENT | FLOW_FLAG_TRUNCATED))
		return;
	if (pkt->key.src_port != knobs.dns_port && pkt->key.dst_port != knobs.dns_port)
		return;
	__u32 offset = pkt->header_len; /* the payload: header_len ends at the UDP or TCP header (options included) */
	if (pkt->key.protocol == IPPROTO_TCP) {
		/*
		 * RFC 7766 8: over TCP each message follows a 2-byte length. A
		 * segment too short for both (the handshake, ACKs, Ethernet
		 * padding) carries no message start: not DNS, not malformed.
		 */
		if (skb->len < offset + 2 + DNS_HEADER_BYTES)
			return;
		offset += 2;
	}
	struct dns_counters *c = dns_counters_of_this_cpu();
	__u8 header[DNS_HEADER_BYTES];
	if (offset > MAX_HEADER_OFFSET || bpf_skb_load_bytes(skb, offset, header, DNS_HEADER_BYTES)) {
		if (c)
			c->malformed += 1;
		return;
	}
	__u64 now = bpf_ktime_get_ns();
	__u16 id = ((__u16)header[0] << 8) | header[1];
	__u16 flags = ((__u16)header[2] << 8) | header[3];

	struct dns_query_key q;
	__builtin_memset(&q, 0, sizeof(q));
	q.ifindex = pkt->key.ifindex;
	q.protocol = pkt->key.protocol;
	q.id = id;
	if (!(flags & DNS_FLAG_QR)) {
		__builtin_memcpy(q.src_ip, pkt->key.src_ip, 16);
		__builtin_memcpy(q.dst_ip, pkt->key.dst_ip, 16);
		q.src_port = pkt->key.src_port;
		q.dst_port = pkt->key.dst_port;
		bpf_map_update_elem(&dns_queries, &q, &now, BPF_NOEXIST);
		if (c)
			c->queries += 1;
		return;
	}
	/* A response: its query went the other way. */
	__builtin_memcpy(q.src_ip, pkt->key.dst_ip, 16);
	__builtin_memcpy(q.dst_ip, pkt->key.src_ip, 16);
	q.src_port = pkt->key.dst_port;
	q.dst_port = pkt->key.src_port;
	if (c)
		c->responses += 1;
	__u64 *sent = bpf_map_lookup_elem(&dns_queries, &q);
	if (!sent)
		return;
	__u64 latency = now - *sent;
	bpf_map_delete_elem(&dns_queries, &q);

	struct dns_record r;
	__builtin_memset(&r, 0, sizeof(r));
	r.latency_ns = latency;
	r.id = id;
	r.flags = flags;
	offset += DNS_HEADER_BYTES;
	__u32 len = skb->len;
	__u32 avail = len > offset ? len - offset : 0;
	if (avail > DNS_NAME_BYTES)
		avail = DNS_NAME_BYTES;
	/* Bounded for the verifier (1..DNS_NAME_BYTES): a variable-length copy to the stack. */
	if (avail >= 1 && avail <= DNS_NAME_BYTES && bpf_skb_load_bytes(skb, offset, r.name, avail) == 0)
		r.name_len = avail;
	bpf_map_update_elem(&dns_flows, &pkt->key, &r, BPF_ANY);
	if (c)
		c->matched += 1;
}

#endif /* NETFLOW_DNS_H */
