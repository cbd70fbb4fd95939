/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * IPv6 extension headers, as both parsers walk them: the TC parser (parse.h)
 * and the drop tracer's (drops.bpf.c), which must key a packet exactly alike.
 */
#ifndef NETFLOW_IPV6_EXT_H
#define NETFLOW_IPV6_EXT_H

#include <linux/types.h>

/* IPv6 extension header numbers (IANA "IPv6 Extension Header Types"). */
#define IPV6_EXT_HOP_BY_HOP 0
#define IPV6_EXT_ROUTING 43
#define IPV6_EXT_FRAGMENT 44
#define IPV6_EXT_AUTH 51
#define IPV6_EXT_DEST_OPTS 60
#define IPV6_EXT_MOBILITY 135

/* An IPv6 extension header's type (RFC 8200 4, RFC 4302, RFC 6275). */
static __always_inline int is_ipv6_extension(__u8 next)
{
	return next == IPV6_EXT_HOP_BY_HOP || next == IPV6_EXT_ROUTING || next == IPV6_EXT_FRAGMENT ||
	       next == IPV6_EXT_AUTH || next == IPV6_EXT_DEST_OPTS || next == IPV6_EXT_MOBILITY;
}

/* Bytes of a non-fragment extension header from its length byte: AH in 4-octet units minus 2 (RFC 4302), the rest in 8-octet units minus 1 (RFC 8200). */
static __always_inline __u32 ipv6_extension_length(__u8 type, __u8 length)
{
	return type == IPV6_EXT_AUTH ? ((__u32)length + 2) * 4 : ((__u32)length + 1) * 8;
}

#endif /* NETFLOW_IPV6_EXT_H */
