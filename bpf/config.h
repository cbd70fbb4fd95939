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

/* Set by the loader before load (const volatile: read-only, known to the verifier). */
const volatile __u8 use_coarse_clock = 1;
/* BPF_ATOMIC_OR (kernel 5.12): TCP flags and flow flags are ORed atomically; before, a plain OR. */
const volatile __u8 use_atomic_or = 1;

#endif /* NETFLOW_CONFIG_H */
