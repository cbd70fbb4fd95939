/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TCP RTT (--enable-rtt): a sock_ops program attached to the root of the
 * cgroup v2 tree (RttHook, src/bpf/rtt-maps.ts), so it runs for every TCP socket on
 * the host, whatever its network namespace.
 *
 * Algorithm: when a connection is established (ACTIVE_ or
 * PASSIVE_ESTABLISHED_CB) the program asks for BPF_SOCK_OPS_RTT_CB on that
 * socket, keeping the flags another program set (the helper replaces them).
 * The kernel then calls it once per RTT sample (tcp_rtt_estimator, an ACK of
 * new data), after srtt_us was updated: the smoothed RTT, srtt_us >> 3 (the
 * kernel keeps it << 3), goes into tcp_rtt under the socket's
 * struct sock_connection (its netns cookie, local and remote address and
 * port, as a flow key holds them), as latest, min and max since user space
 * last drained it. User space joins it at eviction to the TCP flows of that
 * 4-tuple in both directions (egress: local = source; ingress: local =
 * destination): the TC path does no extra lookup.
 *
 * Connections established before the program was attached get no samples.
 * No BTF: struct bpf_sock_ops is UAPI, the verifier rewrites its fields.
 * Kernel 5.3 (RTT_CB), bpf_get_netns_cookie in sock_ops 5.15.
 */
#ifndef NETFLOW_RTT_H
#define NETFLOW_RTT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "flow.h"
#include "maps.h"

#define RTT_AF_INET 2 /* <sys/socket.h> */
#define RTT_AF_INET6 10

/* Keeps a ctx load in its branch (see owner_barrier in owner.h). */
#define rtt_barrier(var) asm volatile("" : "+r"(var))

static __always_inline void record_rtt(struct bpf_sock_ops *skops)
{
	struct sock_connection key;
	__builtin_memset(&key, 0, sizeof(key));
	__u32 *local = (__u32 *)key.local_ip, *remote = (__u32 *)key.remote_ip;
	__u32 family = skops->family;
	if (family == RTT_AF_INET) {
		__u32 l = skops->local_ip4, r = skops->remote_ip4;
		rtt_barrier(l);
		rtt_barrier(r);
		local[2] = bpf_htonl(0xffff);
		local[3] = l;
		remote[2] = bpf_htonl(0xffff);
		remote[3] = r;
	} else if (family == RTT_AF_INET6) {
		__u32 l0 = skops->local_ip6[0], l1 = skops->local_ip6[1], l2 = skops->local_ip6[2], l3 = skops->local_ip6[3];
		__u32 r0 = skops->remote_ip6[0], r1 = skops->remote_ip6[1], r2 = skops->remote_ip6[2], r3 = skops->remote_ip6[3];
		rtt_barrier(l0);
		rtt_barrier(l1);
		rtt_barrier(l2);
		rtt_barrier(l3);
		rtt_barrier(r0);
		rtt_barrier(r1);
		rtt_barrier(r2);
		rtt_barrier(r3);
		local[0] = l0;
		local[1] = l1;
		local[2] = l2;
		local[3] = l3;
		remote[0] = r0;
		remote[1] = r1;
		remote[2] = r2;
		remote[3] = r3;
	} else {
		return;
	}
	key.netns_cookie = bpf_get_netns_cookie(skops);
	key.local_port = skops->local_port;                /* host order */
	key.remote_port = bpf_ntohl(skops->remote_port);  /* network order, in the upper half */
	key.protocol = IPPROTO_TCP;
	__u64 srtt_ns = (__u64)(skops->srtt_us >> 3) * 1000;

	struct rtt_record *known = bpf_map_lookup_elem(&tcp_rtt, &key);
	if (known) {
		known->latest_ns = srtt_ns;
		if (srtt_ns < known->min_ns)
			known->min_ns = srtt_ns;
		if (srtt_ns > known->max_ns)
			known->max_ns = srtt_ns;
		known->samples += 1;
		return;
	}
	struct rtt_record r = { .latest_ns = srtt_ns, .min_ns = srtt_ns, .max_ns = srtt_ns, .samples = 1 };
	bpf_map_update_elem(&tcp_rtt, &key, &r, BPF_ANY);
}

SEC("sockops")
int rtt_sock_ops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_RTT_CB_FLAG);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		record_rtt(skops);
		break;
	}
	return 1;
}

#endif /* NETFLOW_RTT_H */
