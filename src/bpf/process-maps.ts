/**
 * The kernel side of process attribution (bpf/owner.h): its hook programs
 * and the three maps they fill, and the writes user space makes into those
 * maps at start for the sockets that were open before the hooks were
 * attached (src/process/existing-sockets.ts finds them).
 *
 * The maps belong to the FlowObject (closed with it); this module only
 * encodes entries by the layouts in flow-layout.ts.
 */
import { SOCK_CONNECTION, SOCK_LISTENER, SOCK_OWNER } from "./flow-layout.ts";
import { mapUpdate } from "./libbpf.ts";

/** enum bpf_attach_type (linux/bpf.h) of the cgroup hooks. */
export const BPF_CGROUP_INET_SOCK_CREATE = 2;
export const BPF_CGROUP_INET4_CONNECT = 10;
export const BPF_CGROUP_INET6_CONNECT = 11;
export const BPF_CGROUP_INET4_POST_BIND = 12;
export const BPF_CGROUP_INET6_POST_BIND = 13;
export const BPF_CGROUP_INET_SOCK_RELEASE = 34;

/** The hook programs of bpf/owner.h and where each attaches. */
export const OWNER_PROGRAMS = [
  { name: "owner_sock_create", attachType: BPF_CGROUP_INET_SOCK_CREATE, hook: "sock_create" },
  { name: "owner_connect4", attachType: BPF_CGROUP_INET4_CONNECT, hook: "connect4" },
  { name: "owner_connect6", attachType: BPF_CGROUP_INET6_CONNECT, hook: "connect6" },
  { name: "owner_post_bind4", attachType: BPF_CGROUP_INET4_POST_BIND, hook: "post_bind4" },
  { name: "owner_post_bind6", attachType: BPF_CGROUP_INET6_POST_BIND, hook: "post_bind6" },
  { name: "owner_sock_release", attachType: BPF_CGROUP_INET_SOCK_RELEASE, hook: "sock_release" },
] as const;

export interface OwnerProgram {
  name: string;
  attachType: number;
  hook: string;
  fd: number;
}

/** Fds owned by the FlowObject; valid while it is open. */
export interface ProcessMaps {
  ownersFd: number;
  connectionsFd: number;
  listenersFd: number;
  /** The sock_closed ring buffer (struct sock_closed records) and its data bytes. */
  closedFd: number;
  closedBytes: number;
  /** The agent's network namespace (SO_NETNS_COOKIE); 0n where the kernel cannot say (< 5.14). */
  netnsCookie: bigint;
  programs: OwnerProgram[];
}

export interface SocketOwner {
  pid: number;
  comm: string;
  cgroupId: bigint;
}

/** A socket's address and port: 16 bytes (IPv6, or IPv4-mapped) as in flow_key, port in host order. */
export interface SocketEnd {
  addr: Uint8Array;
  port: number;
}

const cookieBytes = (cookie: bigint) => new Uint8Array(new BigUint64Array([cookie]).buffer);

/**
 * The owner of socket `cookie`. `boundPort`: the port its sock_listeners entry
 * is under; `local`: the local end of its sock_connections entry (what
 * sock_release needs to remove them, see struct sock_owner).
 */
export function writeSocketOwner(maps: ProcessMaps, cookie: bigint, owner: SocketOwner, where: { boundPort?: number; local?: SocketEnd } = {}) {
  const F = SOCK_OWNER.fields;
  const value = new Uint8Array(SOCK_OWNER.size);
  const v = new DataView(value.buffer);
  v.setBigUint64(F.cgroup_id.offset, owner.cgroupId, true);
  v.setUint32(F.pid.offset, owner.pid, true);
  v.setUint16(F.bound_port.offset, where.boundPort ?? 0, true);
  if (where.local) {
    v.setUint16(F.local_port.offset, where.local.port, true);
    value.set(where.local.addr, F.local_ip.offset);
  }
  value.set(new TextEncoder().encode(owner.comm).subarray(0, F.comm.size - 1), F.comm.offset);
  mapUpdate(maps.ownersFd, cookieBytes(cookie), value);
}

export function connectionKey(netnsCookie: bigint, protocol: number, local: SocketEnd, remote: SocketEnd): Uint8Array {
  const F = SOCK_CONNECTION.fields;
  const key = new Uint8Array(SOCK_CONNECTION.size);
  const v = new DataView(key.buffer);
  v.setBigUint64(F.netns_cookie.offset, netnsCookie, true);
  key.set(local.addr, F.local_ip.offset);
  key.set(remote.addr, F.remote_ip.offset);
  v.setUint16(F.local_port.offset, local.port, true);
  v.setUint16(F.remote_port.offset, remote.port, true);
  key[F.protocol.offset] = protocol;
  return key;
}

export function listenerKey(netnsCookie: bigint, protocol: number, port: number): Uint8Array {
  const F = SOCK_LISTENER.fields;
  const key = new Uint8Array(SOCK_LISTENER.size);
  const v = new DataView(key.buffer);
  v.setBigUint64(F.netns_cookie.offset, netnsCookie, true);
  v.setUint16(F.port.offset, port, true);
  key[F.protocol.offset] = protocol;
  return key;
}

export function writeConnection(maps: ProcessMaps, protocol: number, local: SocketEnd, remote: SocketEnd, cookie: bigint) {
  mapUpdate(maps.connectionsFd, connectionKey(maps.netnsCookie, protocol, local, remote), cookieBytes(cookie));
}

export function writeListener(maps: ProcessMaps, protocol: number, port: number, cookie: bigint) {
  mapUpdate(maps.listenersFd, listenerKey(maps.netnsCookie, protocol, port), cookieBytes(cookie));
}
