/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Every knob of the kernel side in one place. */
#ifndef NETFLOW_CONFIG_H
#define NETFLOW_CONFIG_H

/*
 * The inner map template's size. User space creates the real flows maps
 * itself, sized from their fill between 4096 and --cache-max-flows.
 */
#define FLOWS_MAX_ENTRIES_DEFAULT 4096
/* 80k flow_events (104 bytes + an 8-byte header): a second of a 300 kpps overflow at 100 ms reads. */
#define OVERFLOW_RINGBUF_BYTES (8 * 1024 * 1024)

/* Parser bounds: the verifier needs every loop and offset bounded. */
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT_HEADERS 6
/* Offsets past this are not parsed (the packet is counted on what was read). */
#define MAX_HEADER_OFFSET 1024
/* Linear bytes wanted before parsing; skbs with less are pulled once. */
#define PULL_BYTES 128

/*
 * The knobs the loader sets before load, in one struct so that user space
 * writes .rodata by a layout it knows (src/bpf/flow-object.ts, checked
 * against this struct's BTF). const volatile: read-only, and the verifier
 * knows the values, so it never visits the branches a knob turns off.
 */
struct netflow_knobs {
	/* bpf_ktime_get_coarse_ns (kernel 5.11+) instead of the precise clock. */
	__u8 use_coarse_clock;
	/*
	 * The flows maps hold one value per CPU (BPF_MAP_TYPE_PERCPU_HASH: plain
	 * adds, ~6 ns a packet cheaper) or one shared value (BPF_MAP_TYPE_HASH:
	 * atomic adds, memory independent of the CPU count). The loader sets the
	 * inner map type and this knob together.
	 */
	__u8 percpu_values;
	/* BPF_ATOMIC_OR (kernel 5.12): flags ORed atomically into shared values; before, a plain OR. */
	__u8 use_atomic_or;
};

const volatile struct netflow_knobs knobs = {
	.use_coarse_clock = 1,
	.percpu_values = 0,
	.use_atomic_or = 1,
};

#endif /* NETFLOW_CONFIG_H */
