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
 * Never used: these anchor the contract's types in the object's BTF, where
 * test/bpf/flow-layout.test.ts reads their layout and values.
 */
struct flow_event *unused_flow_event __attribute__((unused));
enum flow_direction unused_flow_direction __attribute__((unused));
enum flow_flag unused_flow_flag __attribute__((unused));

#endif /* NETFLOW_MAPS_H */
