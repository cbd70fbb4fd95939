/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Every map of the kernel side. */
#ifndef NETFLOW_MAPS_H
#define NETFLOW_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "flow.h"

/*
 * Two flows maps, used in turn. Key: struct flow_key. Value: struct flow_metrics per CPU.
 * The program writes to the map that active_slot names; user space flips the
 * slot, waits for programs still running on the old map to finish, then
 * evicts the old one with lookup_and_delete_batch. An in-place update can
 * therefore never race with its deletion, and no packet is lost to eviction.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, FLOWS_MAX_ENTRIES_DEFAULT);
	__type(key, struct flow_key);
	__type(value, struct flow_metrics);
} flows_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, FLOWS_MAX_ENTRIES_DEFAULT);
	__type(key, struct flow_key);
	__type(value, struct flow_metrics);
} flows_b SEC(".maps");

/* Packets whose flow did not fit in the flows map. Records: struct flow_event. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, OVERFLOW_RINGBUF_BYTES);
} flow_overflow SEC(".maps");

/* Key: enum flow_counter. Value: __u64 per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/*
 * 0: programs write flows_a; 1: flows_b. In a section of its own, so user space
 * can write the whole map value (this one __u32) with one update.
 */
volatile __u32 active_slot SEC(".data.slot") = 0;

/*
 * Never used: these anchor the contract's types in the object's BTF, where
 * test/bpf/flow-layout.test.ts reads their layout and values.
 */
struct flow_event *unused_flow_event __attribute__((unused));
enum flow_counter unused_flow_counter __attribute__((unused));
enum flow_direction unused_flow_direction __attribute__((unused));
enum flow_flag unused_flow_flag __attribute__((unused));

#endif /* NETFLOW_MAPS_H */
