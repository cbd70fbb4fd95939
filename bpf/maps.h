/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Every map of the kernel side. */
#ifndef NETFLOW_MAPS_H
#define NETFLOW_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "flow.h"

/*
 * The flows map the programs write: the one inner map of `flows`. Key: struct
 * flow_key. Value: struct flow_metrics, one shared copy (atomic adds), or one
 * per CPU when the loader turns this template into BPF_MAP_TYPE_PERCPU_HASH
 * (with the percpu_values knob, config.h).
 *
 * User space creates the inner maps (bpf_map_create, sized from the fill it
 * sees) and swaps them by updating flows[0]. The kernel returns from that
 * update only after an RCU grace period (maybe_wait_bpf_programs() in
 * kernel/bpf/syscall.c, since 4.19): every program that looked up the old
 * inner map ran under rcu_read_lock and has finished. The old map is then
 * written by nobody, and user space drains it with lookup_and_delete_batch.
 * No sleep, no grace period of our own: the swap is exact.
 *
 * Not preallocated: memory follows the flows inserted, not the map's
 * ceiling; user space resizes the next map from this one's fill. Inner maps
 * of another max_entries are accepted from kernel 5.10 (BPF_F_INNER_MAP era;
 * hash maps never compared max_entries since).
 */
struct flows_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, FLOWS_MAX_ENTRIES_DEFAULT);
	__type(key, struct flow_key);
	__type(value, struct flow_metrics);
};

/* Key: 0. Value: the active flows map (struct flows_inner). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct flows_inner);
} flows SEC(".maps");

/* Packets whose flow did not fit in the flows map. Records: struct flow_event. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, OVERFLOW_RINGBUF_BYTES);
} flow_overflow SEC(".maps");

/* Key: 0. Value: struct flow_counters per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_counters);
} counters SEC(".maps");

/*
 * Filter rules, loaded by user space right after load, before any program
 * is attached; read only when knobs.filter_enabled. Key: struct filter_key.
 * Value: struct filter_chain (flow.h says how the chains are built).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required by LPM tries */
	__uint(max_entries, FILTER_TRIE_MAX_ENTRIES);
	__type(key, struct filter_key);
	__type(value, struct filter_chain);
} filter_rules SEC(".maps");

/*
 * Key: a rule's id (its place on the command line), or MAX_FILTER_RULES for
 * the default action. Value: struct filter_counter per CPU, what it rejected.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_FILTER_RULES + 1);
	__type(key, __u32);
	__type(value, struct filter_counter);
} filter_counters SEC(".maps");

/*
 * Process attribution (owner.h). Key: socket cookie (__u64). Value: struct
 * sock_owner. Written by the cgroup socket hooks (sock_create, connect4/6,
 * post_bind4/6) and by user space at start; deleted by user space a grace
 * period after sock_release reported the socket closed (sock_closed).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCK_OWNERS_MAX_ENTRIES);
	__type(key, __u64);
	__type(value, struct sock_owner);
} sock_owners SEC(".maps");

/*
 * Key: struct sock_connection (a local socket's 5-tuple, local side first).
 * Value: its socket cookie. Written at TC egress when a flow with a known
 * socket is created (and by user space at start); read by ingress flows,
 * reversed; deleted with the socket's owner entry when it still names it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCK_CONNECTIONS_MAX_ENTRIES);
	__type(key, struct sock_connection);
	__type(value, __u64);
} sock_connections SEC(".maps");

/*
 * Key: struct sock_listener (netns, protocol, bound port). Value: the cookie
 * of the socket bound there. Written by post_bind4/6 (and user space at
 * start); read by flows to or from that port no connection entry covers;
 * deleted by sock_release when it still names that socket.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCK_LISTENERS_MAX_ENTRIES);
	__type(key, struct sock_listener);
	__type(value, __u64);
} sock_listeners SEC(".maps");

/* Sockets closed (sock_release), read by user space. Records: struct sock_closed. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SOCK_CLOSED_RINGBUF_BYTES);
} sock_closed SEC(".maps");

/* DNS (dns.h). Key: struct dns_query_key. Value: the query's bpf_ktime_get_ns(). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DNS_QUERIES_MAX_ENTRIES);
	__type(key, struct dns_query_key);
	__type(value, __u64);
} dns_queries SEC(".maps");

/* Key: struct flow_key (the response's flow). Value: struct dns_record. Read and deleted by user space at eviction. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DNS_FLOWS_MAX_ENTRIES);
	__type(key, struct flow_key);
	__type(value, struct dns_record);
} dns_flows SEC(".maps");

/* Key: 0. Value: struct dns_counters per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_counters);
} dns_counters SEC(".maps");

/*
 * TCP RTT (rtt.h). Key: struct sock_connection (the socket's netns, local and
 * remote end, IPPROTO_TCP). Value: struct rtt_record. Read and deleted by
 * user space at eviction.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TCP_RTT_MAX_ENTRIES);
	__type(key, struct sock_connection);
	__type(value, struct rtt_record);
} tcp_rtt SEC(".maps");

/*
 * Never used: these anchor the contract's types in the object's BTF, where
 * test/bpf/flow-layout.test.ts reads their layout and values.
 */
struct flow_event *unused_flow_event __attribute__((unused));
enum flow_direction unused_flow_direction __attribute__((unused));
enum flow_flag unused_flow_flag __attribute__((unused));
enum flow_owner_source unused_flow_owner_source __attribute__((unused));
struct sock_closed *unused_sock_closed __attribute__((unused));
enum filter_action unused_filter_action __attribute__((unused));
enum filter_side unused_filter_side __attribute__((unused));
enum filter_match unused_filter_match __attribute__((unused));
struct dns_counters *unused_dns_counters __attribute__((unused));
struct rtt_record *unused_rtt_record __attribute__((unused));

#endif /* NETFLOW_MAPS_H */
