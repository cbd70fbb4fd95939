// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Flow accounting at TC ingress and egress.
 *
 * Algorithm: parse the packet's headers into a struct flow_key; drop it from
 * accounting if the filter rules reject it (filter.h; only with --filter);
 * keep it with probability 1/N when sampling 1 in N (--sampling, or the
 * accepting rule's sample=N: bpf_get_prandom_u32() % N == 0, per skb, so a
 * GSO skb's segments are kept or skipped together; counts stay raw and the
 * flow records N, user space scales); with --enable-dns, time DNS queries
 * and match their responses (dns.h); then add the packet to that key's value in the active flows map (the inner map of
 * `flows`, see maps.h): with shared values, atomic adds of packets and bytes,
 * a plain store of the time, an atomic OR of flags only when they add a bit;
 * with per-CPU values (few CPUs: the loader's choice), plain adds to this
 * CPU's copy. A new flow is inserted with BPF_NOEXIST. When the map is full the
 * packet goes to user space as a flow_event through the flow_overflow ring
 * buffer (without a wakeup: user space drains it on a timer), and only when
 * that is full too is the packet dropped from accounting, counted in
 * flow_counters.dropped_*. User space watches flows_inserted and swaps in a
 * larger map before this one fills.
 *
 * A GSO skb (TSO on egress, GRO on ingress) becomes gso_segs packets on the
 * wire, each repeating the headers: it counts as gso_segs packets and
 * skb->len + (gso_segs - 1) * header_len bytes.
 *
 * The program never changes the packet's fate: it returns TC_ACT_UNSPEC,
 * which is TCX_NEXT for TCX links, so the next program or the stack decides.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "flow.h"
#include "maps.h"
#include "parse.h"
#include "filter.h"
#include "owner.h"
#include "dns.h"
#include "rtt.h"

#define E2BIG 7
#define EEXIST 17

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Looked up only where a counter changes: a known flow's packet never pays for it. */
static __always_inline struct flow_counters *counters_of_this_cpu(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counters, &zero);
}

/* Sets the bits of `bits` in *word that are not set yet; atomically where the kernel can. */
static __always_inline void or_bits(__u32 *word, __u32 bits)
{
	if (!(bits & ~*word))
		return;
	if (knobs.use_atomic_or)
		__sync_fetch_and_or(word, bits);
	else
		*word |= bits;
}

static __always_inline void fill_metrics(struct flow_metrics *m, struct __sk_buff *skb,
					 const struct packet *pkt, __u64 segs, __u64 len, __u64 now)
{
	m->packets = segs;
	m->bytes = len;
	m->first_seen_ns = now;
	m->last_seen_ns = now;
	m->tcp_flags = pkt->tcp_flags;
	m->flags = pkt->flags;
	m->dscp = pkt->dscp;
	m->icmp_type = pkt->icmp_type;
	m->icmp_code = pkt->icmp_code;
	m->l2_header_len = pkt->l2_header_len;
	m->vlan_id = pkt->vlan_id;
	m->sampling = pkt->sampling;
	if (pkt->l2)
		read_macs(skb, m->src_mac, m->dst_mac);
}

/*
 * The hot path: a packet of a known flow. Shared values: two atomic adds and
 * a store. Per-CPU values (percpu_values): this CPU's copy, written only
 * here with migration disabled, so plain adds; a copy still zero belongs to
 * a CPU that sees the flow for the first time (the insert zeroed it) and is
 * filled like a new flow's.
 */
static __always_inline void add_packet(struct flow_metrics *m, struct __sk_buff *skb,
				       const struct packet *pkt, __u64 segs, __u64 len, __u64 now)
{
	if (knobs.percpu_values) {
		if (m->packets == 0) {
			fill_metrics(m, skb, pkt, segs, len, now);
			attribute_flow(skb, &pkt->key, m);
			return;
		}
		m->packets += segs;
		m->bytes += len;
		m->last_seen_ns = now;
		m->tcp_flags |= pkt->tcp_flags;
		m->flags |= pkt->flags;
		return;
	}
	__sync_fetch_and_add(&m->packets, segs);
	__sync_fetch_and_add(&m->bytes, len);
	m->last_seen_ns = now;
	or_bits(&m->tcp_flags, pkt->tcp_flags);
	or_bits(&m->flags, pkt->flags);
}

static __always_inline void send_overflow(struct __sk_buff *skb, const struct packet *pkt, __u64 segs,
					  __u64 len, __u64 now)
{
	struct flow_counters *c = counters_of_this_cpu();
	struct flow_event *event = bpf_ringbuf_reserve(&flow_overflow, sizeof(*event), 0);
	if (!event) {
		if (c) {
			c->dropped_packets += segs;
			c->dropped_bytes += len;
		}
		return;
	}
	__builtin_memset(event, 0, sizeof(*event));
	event->key = pkt->key;
	fill_metrics(&event->metrics, skb, pkt, segs, len, now);
	attribute_flow(skb, &pkt->key, &event->metrics);
	bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
	if (c)
		c->ringbuf_packets += segs;
}

static __always_inline void account(struct __sk_buff *skb, const struct packet *pkt, __u64 segs, __u64 len)
{
	struct flow_counters *c;
	/*
	 * The coarse clock (tick precision, 1-4 ms) costs a third of the
	 * precise one per packet; flow times are reported in ms anyway.
	 * Kernels before 5.11 lack it: the loader clears the knob there, and
	 * the verifier never visits the branch it turns off.
	 */
	__u64 now = knobs.use_coarse_clock ? bpf_ktime_get_coarse_ns() : bpf_ktime_get_ns();

	__u32 zero = 0;
	void *active = bpf_map_lookup_elem(&flows, &zero);
	if (!active) {
		c = counters_of_this_cpu();
		if (c)
			c->no_flows_map += segs;
		send_overflow(skb, pkt, segs, len, now);
		return;
	}
	struct flow_metrics *m = bpf_map_lookup_elem(active, &pkt->key);
	if (m) {
		add_packet(m, skb, pkt, segs, len, now);
		return;
	}

	struct flow_metrics fresh;
	__builtin_memset(&fresh, 0, sizeof(fresh));
	fill_metrics(&fresh, skb, pkt, segs, len, now);
	/* Once per flow: its process (owner.h). A known flow's packets returned above. */
	attribute_flow(skb, &pkt->key, &fresh);
	long err = bpf_map_update_elem(active, &pkt->key, &fresh, BPF_NOEXIST);
	if (err == 0) {
		c = counters_of_this_cpu();
		if (c)
			c->flows_inserted += 1;
		return;
	}
	if (err == -EEXIST) {
		/* Another CPU inserted the flow between our lookup and update. */
		m = bpf_map_lookup_elem(active, &pkt->key);
		if (m) {
			add_packet(m, skb, pkt, segs, len, now);
			return;
		}
	} else if (err != -E2BIG) {
		c = counters_of_this_cpu();
		if (c)
			c->map_errors += 1;
	}
	send_overflow(skb, pkt, segs, len, now);
}

static __always_inline int flow_tc(struct __sk_buff *skb, __u8 direction, __u8 l2)
{
#ifdef NETFLOW_TEST_VERIFIER_REJECTS
	/* Only in test/bpf/load-errors.test.ts's build: an unchecked packet read the verifier refuses. */
	if (*(__u8 *)(long)skb->data == 0xff)
		return TC_ACT_UNSPEC;
#endif
	struct packet pkt;
	parse_packet(skb, &pkt, direction, l2);
	if (pkt.flags & FLOW_FLAG_TRUNCATED) {
		/*
		 * Headers beyond the linear part cannot be read directly: pull them
		 * in and parse again. Only then: a pull unclones a cloned skb (TCP's
		 * egress skbs are clones), a copy the common case never pays.
		 */
		__u32 len = skb->len;
		if (bpf_skb_pull_data(skb, len < PULL_BYTES ? len : PULL_BYTES) == 0)
			parse_packet(skb, &pkt, direction, l2);
	}
	__u64 segs = skb->gso_segs;
	__u64 len = skb->len;
	if (segs > 1)
		len += (segs - 1) * pkt.header_len;
	else
		segs = 1; /* 0 on a skb that was never GSO */
	/* Before anything is counted: a rejected packet is in no flow and no other counter. */
	__u32 sampling = knobs.sampling;
	if (filter_rejects(&pkt, direction, segs, len, &sampling))
		return TC_ACT_UNSPEC;
	/*
	 * 1 in N, the same way (netobserv-ebpf-agent's too): a skipped packet
	 * is in no flow and no counter. Without a filter and at --sampling 1
	 * the rate is a known constant: the verifier drops the branch.
	 */
	if (sampling > 1 && bpf_get_prandom_u32() % sampling != 0)
		return TC_ACT_UNSPEC;
	pkt.sampling = sampling ? sampling : 1;
	if (pkt.flags & FLOW_FLAG_TRUNCATED) {
		struct flow_counters *c = counters_of_this_cpu();
		if (c)
			c->truncated += 1;
	}
	/* --enable-dns (dns.h): only packets counted in a flow, so a record always has its flow. */
	track_dns(skb, &pkt);
	account(skb, &pkt, segs, len);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int flow_ingress(struct __sk_buff *skb)
{
	return flow_tc(skb, FLOW_DIRECTION_INGRESS, 1);
}

SEC("tc")
int flow_egress(struct __sk_buff *skb)
{
	return flow_tc(skb, FLOW_DIRECTION_EGRESS, 1);
}

/* Devices without a link-layer header (tun, WireGuard, IP tunnels): packets start at L3. */
SEC("tc")
int flow_ingress_l3(struct __sk_buff *skb)
{
	return flow_tc(skb, FLOW_DIRECTION_INGRESS, 0);
}

SEC("tc")
int flow_egress_l3(struct __sk_buff *skb)
{
	return flow_tc(skb, FLOW_DIRECTION_EGRESS, 0);
}
