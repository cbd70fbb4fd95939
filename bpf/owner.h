/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Process attribution: the process and cgroup that own a flow's local socket.
 *
 * Algorithm. Cgroup v2 socket hooks, attached to the root of the cgroup v2
 * tree (so they run for every process on the host), run in the context of
 * the process acting on a socket and record socket cookie -> {tgid, comm,
 * cgroup id} in sock_owners: sock_create (every new inet socket), connect4/6
 * (the process that connects may not be the one that created the socket)
 * and post_bind4/6, which also records the bound port -> cookie in
 * sock_listeners. sock_release frees the port at once and reports the
 * socket to user space, which deletes its other entries a grace period
 * later (src/process/closed-sockets.ts).
 *
 * A flow looks up its owner once, when the packet that inserts it is counted
 * (attribute_flow); a known flow's packets never look:
 *  - egress with a socket (skb->sk: a locally generated packet): its cookie
 *    in sock_owners; else its connection's entry (the kernel's own control
 *    socket answering for it); else the listener of its source port: an accepted
 *    connection's socket is a clone of the listener that sock_create never
 *    saw, and it adopts the listener's owner; else only the cookie and the
 *    socket's cgroup are known. The connection's 5-tuple -> cookie is
 *    recorded for the other direction.
 *  - ingress: TC runs before the socket lookup (skb->sk is NULL), so the
 *    reversed 5-tuple in sock_connections, else the listener of the
 *    destination port.
 *  - nothing found and no socket: FLOW_OWNER_NONE, forwarded traffic or the
 *    kernel's own packets. Connection and port keys carry the network
 *    namespace (bpf_get_netns_cookie in the hooks, knobs.netns_cookie at TC,
 *    the agent's: it attaches only to its own namespace's devices), so a
 *    packet forwarded through this namespace never matches a socket of
 *    another one.
 *
 * The hooks need kernel 5.9 (sock_release) and the helpers they call in
 * cgroup socket programs (socket and netns cookies, current pid/comm/cgroup).
 * They always return 1: they never refuse an operation.
 */
#ifndef NETFLOW_OWNER_H
#define NETFLOW_OWNER_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "flow.h"
#include "maps.h"

#define OWNER_AF_INET 2   /* <sys/socket.h> */
#define OWNER_AF_INET6 10

/*
 * The calling process as the owner of the socket `cookie`. An existing
 * entry keeps where its other entries are (bound port, connection).
 */
static __always_inline struct sock_owner *record_owner(__u64 cookie)
{
	struct sock_owner *known = bpf_map_lookup_elem(&sock_owners, &cookie);
	if (known) {
		known->pid = bpf_get_current_pid_tgid() >> 32;
		known->cgroup_id = bpf_get_current_cgroup_id();
		if (knobs.record_comm)
			bpf_get_current_comm(known->comm, sizeof(known->comm));
		return known;
	}
	struct sock_owner owner;
	__builtin_memset(&owner, 0, sizeof(owner));
	owner.pid = bpf_get_current_pid_tgid() >> 32;
	owner.cgroup_id = bpf_get_current_cgroup_id();
	if (knobs.record_comm)
		bpf_get_current_comm(owner.comm, sizeof(owner.comm));
	bpf_map_update_elem(&sock_owners, &cookie, &owner, BPF_ANY);
	return bpf_map_lookup_elem(&sock_owners, &cookie);
}

/*
 * Keeps a context field's load where it is written: clang would otherwise
 * merge the two branches' loads into one through a ctx pointer plus an
 * offset, which the verifier refuses (a ctx access must be ctx + constant).
 */
#define owner_barrier(var) asm volatile("" : "+r"(var))

/* The socket's peer address as a flow key holds it: IPv6, or IPv4-mapped. */
static __always_inline void peer_address(struct bpf_sock *sk, __u8 *out)
{
	__u32 *words = (__u32 *)out;
	if (sk->family == OWNER_AF_INET) {
		__u32 ip4 = sk->dst_ip4;
		owner_barrier(ip4);
		words[0] = 0;
		words[1] = 0;
		words[2] = bpf_htonl(0xffff);
		words[3] = ip4;
		return;
	}
	__u32 a = sk->dst_ip6[0], b = sk->dst_ip6[1], c = sk->dst_ip6[2], d = sk->dst_ip6[3];
	owner_barrier(a);
	owner_barrier(b);
	owner_barrier(c);
	owner_barrier(d);
	words[0] = a;
	words[1] = b;
	words[2] = c;
	words[3] = d;
}

SEC("cgroup/sock_create")
int owner_sock_create(struct bpf_sock *sk)
{
	record_owner(bpf_get_socket_cookie(sk));
	return 1;
}

SEC("cgroup/connect4")
int owner_connect4(struct bpf_sock_addr *ctx)
{
	record_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/connect6")
int owner_connect6(struct bpf_sock_addr *ctx)
{
	record_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

/* After bind(2) (the port is assigned by then): the owner, and the port -> socket. */
static __always_inline int record_bound(struct bpf_sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct sock_owner *owner = record_owner(cookie);
	if (owner)
		owner->bound_port = sk->src_port;
	struct sock_listener key;
	__builtin_memset(&key, 0, sizeof(key));
	key.netns_cookie = bpf_get_netns_cookie(sk);
	key.port = sk->src_port;
	key.protocol = sk->protocol;
	bpf_map_update_elem(&sock_listeners, &key, &cookie, BPF_ANY);
	return 1;
}

SEC("cgroup/post_bind4")
int owner_post_bind4(struct bpf_sock *sk)
{
	return record_bound(sk);
}

SEC("cgroup/post_bind6")
int owner_post_bind6(struct bpf_sock *sk)
{
	return record_bound(sk);
}

/*
 * A closing socket gives up its port at once (a new socket may bind it now),
 * and is reported to user space, which deletes its owner and connection
 * entries a grace period later: a TCP connection still sends and receives
 * after close(2) (FIN, the last ACKs), and those flows find their process
 * until then. The socket's own address and port are not readable here (the
 * kernel allows them only in post_bind): its owner entry says where its
 * entries are. An unconnected UDP socket's connections (one per peer it sent
 * to) leave by LRU only.
 */
SEC("cgroup/sock_release")
int owner_sock_release(struct bpf_sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct sock_owner *owner = bpf_map_lookup_elem(&sock_owners, &cookie);
	if (!owner)
		return 1;
	__u16 bound_port = owner->bound_port;
	__u16 local_port = owner->local_port;
	__u64 netns = bpf_get_netns_cookie(sk);
	__u8 protocol = sk->protocol;
	if (bound_port) {
		struct sock_listener listener;
		__builtin_memset(&listener, 0, sizeof(listener));
		listener.netns_cookie = netns;
		listener.port = bound_port;
		listener.protocol = protocol;
		__u64 *held = bpf_map_lookup_elem(&sock_listeners, &listener);
		if (held && *held == cookie)
			bpf_map_delete_elem(&sock_listeners, &listener);
	}
	struct sock_closed *closed = bpf_ringbuf_reserve(&sock_closed, sizeof(*closed), 0);
	if (!closed)
		return 1; /* ring full: the entries leave by LRU */
	__builtin_memset(closed, 0, sizeof(*closed));
	closed->cookie = cookie;
	struct sock_connection *conn = &closed->connection;
	conn->netns_cookie = netns;
	conn->protocol = protocol;
	__u16 remote_port = bpf_ntohs(sk->dst_port);
	if (local_port && remote_port) {
		conn->local_port = local_port;
		__builtin_memcpy(conn->local_ip, owner->local_ip, 16);
		peer_address(sk, conn->remote_ip);
		conn->remote_port = remote_port;
	}
	bpf_ringbuf_submit(closed, BPF_RB_NO_WAKEUP);
	return 1;
}

/* ---- at TC: once per new flow ------------------------------------------------ */

static __always_inline void set_owner(struct flow_metrics *m, const struct sock_owner *o, __u64 cookie, __u8 source)
{
	m->owner_source = source;
	m->owner_pid = o->pid;
	m->cgroup_id = o->cgroup_id;
	m->socket_cookie = cookie;
	__builtin_memcpy(m->owner_comm, o->comm, sizeof(m->owner_comm));
}

/* The socket bound to `port` in this namespace, or 0. */
static __always_inline __u64 listener_cookie(__u8 protocol, __u16 port)
{
	if (port == 0)
		return 0;
	struct sock_listener key;
	__builtin_memset(&key, 0, sizeof(key));
	key.netns_cookie = knobs.netns_cookie;
	key.port = port;
	key.protocol = protocol;
	__u64 *cookie = bpf_map_lookup_elem(&sock_listeners, &key);
	return cookie ? *cookie : 0;
}

/* The flow's connection as its local socket sees it: local = source on egress, destination on ingress. */
static __always_inline void flow_connection(struct sock_connection *conn, const struct flow_key *key, int ingress)
{
	__builtin_memset(conn, 0, sizeof(*conn));
	conn->netns_cookie = knobs.netns_cookie;
	conn->protocol = key->protocol;
	if (ingress) {
		__builtin_memcpy(conn->local_ip, key->dst_ip, 16);
		__builtin_memcpy(conn->remote_ip, key->src_ip, 16);
		conn->local_port = key->dst_port;
		conn->remote_port = key->src_port;
	} else {
		__builtin_memcpy(conn->local_ip, key->src_ip, 16);
		__builtin_memcpy(conn->remote_ip, key->dst_ip, 16);
		conn->local_port = key->src_port;
		conn->remote_port = key->dst_port;
	}
}

static __always_inline void attribute_egress(struct __sk_buff *skb, const struct flow_key *key, struct flow_metrics *m)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	if (cookie == 0) {
		m->owner_source = FLOW_OWNER_NONE;
		return;
	}
	struct sock_owner *o = bpf_map_lookup_elem(&sock_owners, &cookie);
	if (o) {
		set_owner(m, o, cookie, FLOW_OWNER_SOCKET);
		/* Where sock_release finds the connection entry written below. */
		o->local_port = key->src_port;
		__builtin_memcpy(o->local_ip, key->src_ip, 16);
	} else {
		/*
		 * Not a socket the hooks saw. A known connection first: a TIME_WAIT
		 * ACK or a reset the kernel sends for it goes out through its own
		 * control socket, and the connection's entry still names its owner.
		 */
		struct sock_connection conn;
		flow_connection(&conn, key, 0);
		__u64 *known = bpf_map_lookup_elem(&sock_connections, &conn);
		if (known) {
			__u64 owner_cookie = *known;
			o = bpf_map_lookup_elem(&sock_owners, &owner_cookie);
			if (o) {
				set_owner(m, o, owner_cookie, FLOW_OWNER_CONNECTION);
				return;
			}
		}
		__u64 listener = listener_cookie(key->protocol, key->src_port);
		o = listener ? bpf_map_lookup_elem(&sock_owners, &listener) : 0;
		if (!o) {
			m->owner_source = FLOW_OWNER_UNKNOWN;
			m->socket_cookie = cookie;
			m->cgroup_id = bpf_skb_cgroup_id(skb);
			return;
		}
		set_owner(m, o, cookie, FLOW_OWNER_LISTENER);
		/*
		 * An accepted connection: its socket adopts the listener's owner, so
		 * its later flows find it by cookie and sock_release removes it with
		 * its connection. Not a request socket (SYN-ACK): that one is never
		 * released, and the listener's port stays the listener's.
		 */
		struct bpf_sock *sk = skb->sk;
		if (!sk || !bpf_sk_fullsock(sk))
			return;
		struct sock_owner adopted = *o;
		adopted.bound_port = 0;
		adopted.local_port = key->src_port;
		__builtin_memcpy(adopted.local_ip, key->src_ip, 16);
		bpf_map_update_elem(&sock_owners, &cookie, &adopted, BPF_ANY);
	}
	struct sock_connection conn;
	flow_connection(&conn, key, 0);
	bpf_map_update_elem(&sock_connections, &conn, &cookie, BPF_ANY);
}

static __always_inline void attribute_ingress(const struct flow_key *key, struct flow_metrics *m)
{
	struct sock_connection conn;
	flow_connection(&conn, key, 1);
	__u64 *found = bpf_map_lookup_elem(&sock_connections, &conn);
	if (found) {
		__u64 cookie = *found;
		struct sock_owner *o = bpf_map_lookup_elem(&sock_owners, &cookie);
		if (o) {
			set_owner(m, o, cookie, FLOW_OWNER_CONNECTION);
			return;
		}
	}
	__u64 listener = listener_cookie(key->protocol, key->dst_port);
	if (listener) {
		struct sock_owner *o = bpf_map_lookup_elem(&sock_owners, &listener);
		if (o) {
			set_owner(m, o, listener, FLOW_OWNER_LISTENER);
			return;
		}
	}
	m->owner_source = FLOW_OWNER_NONE;
}

/* Fills the owner fields of a new flow's metrics (zeroed by the caller). Dead code when the knob is off. */
static __always_inline void attribute_flow(struct __sk_buff *skb, const struct flow_key *key, struct flow_metrics *m)
{
	if (!knobs.attribute_owners)
		return;
	if (key->direction == FLOW_DIRECTION_EGRESS)
		attribute_egress(skb, key, m);
	else
		attribute_ingress(key, m);
}

#endif /* NETFLOW_OWNER_H */
