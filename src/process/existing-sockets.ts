/**
 * The sockets that were open before the process hooks were attached: the
 * hooks never saw them created, bound or connected. sock_diag (the kernel's
 * socket dump, what `ss` reads) lists this network namespace's TCP and UDP
 * sockets with their cookies and inodes; /proc/<pid>/fd links name the
 * processes holding each inode (socket:[inode]), /proc/<pid>/comm and
 * /proc/<pid>/cgroup the rest. What was found goes into the kernel's maps
 * as the hooks would have written it (process-maps.ts). Sockets of other
 * network namespaces are not listed (sock_diag is per namespace); processes
 * whose /proc entries this process may not read (without CAP_SYS_PTRACE)
 * stay unknown.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { sockDiagDump } from "../bpf/libbpf.ts";
import type { SocketEnd, SocketOwner } from "../bpf/process-maps.ts";

export interface ExistingSocket {
  cookie: bigint;
  inode: number;
  protocol: number;
  /** TCP state (include/net/tcp_states.h): 1 ESTABLISHED, 10 LISTEN; 7 (CLOSE) for an unconnected UDP socket. */
  state: number;
  local: SocketEnd;
  remote: SocketEnd;
}

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;

/** struct nlmsghdr (16 bytes) + struct inet_diag_req_v2 (56 bytes): every socket of one family and protocol. */
function dumpRequest(family: number, protocol: number): Uint8Array {
  const request = new Uint8Array(16 + 56);
  const v = new DataView(request.buffer);
  v.setUint32(0, request.byteLength, true);
  v.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  request[16] = family;
  request[17] = protocol;
  v.setUint32(20, 0xffffffff, true); // idiag_states: every state
  return request;
}

function lastMessageType(datagram: Uint8Array): number {
  const v = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  let type = 0;
  for (let at = 0; at + 16 <= datagram.byteLength; ) {
    const length = v.getUint32(at, true);
    type = v.getUint16(at + 4, true);
    if (length < 16) break;
    at += (length + 3) & ~3;
  }
  return type;
}

/** An address from struct inet_diag_sockid (network order, 16 bytes; IPv4 in the first 4) as a flow key holds it. */
function address(bytes: Uint8Array, at: number, family: number): Uint8Array {
  const out = new Uint8Array(16);
  if (family === AF_INET) {
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(bytes.subarray(at, at + 4), 12);
  } else out.set(bytes.subarray(at, at + 16));
  return out;
}

/** Parses sock_diag's answer: struct inet_diag_msg after each nlmsghdr. */
export function parseInetDiag(datagrams: Uint8Array[], protocol: number): ExistingSocket[] {
  const sockets: ExistingSocket[] = [];
  for (const d of datagrams) {
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    for (let at = 0; at + 16 <= d.byteLength; ) {
      const length = v.getUint32(at, true);
      const type = v.getUint16(at + 4, true);
      if (length < 16) break;
      if (type === NLMSG_DONE || type === NLMSG_ERROR) break;
      if (type === SOCK_DIAG_BY_FAMILY && length >= 16 + 72) {
        const m = at + 16;
        const family = d[m]!;
        sockets.push({
          state: d[m + 1]!,
          protocol,
          local: { addr: address(d, m + 8, family), port: v.getUint16(m + 4, false) },
          remote: { addr: address(d, m + 24, family), port: v.getUint16(m + 6, false) },
          cookie: BigInt(v.getUint32(m + 44, true)) | (BigInt(v.getUint32(m + 48, true)) << 32n),
          inode: v.getUint32(m + 68, true),
        });
      }
      at += (length + 3) & ~3;
    }
  }
  return sockets;
}

/** Every TCP and UDP socket of this network namespace (IPv4 and IPv6), from sock_diag. */
export function listSockets(): ExistingSocket[] {
  const out: ExistingSocket[] = [];
  for (const protocol of [IPPROTO_TCP, IPPROTO_UDP])
    for (const family of [AF_INET, AF_INET6])
      out.push(...parseInetDiag(sockDiagDump(dumpRequest(family, protocol), (d) => lastMessageType(d) === NLMSG_DONE), protocol));
  return out;
}

/**
 * socket inode → the process holding it, from /proc/<pid>/fd (the first
 * process found, for a socket several hold: a forked server's workers).
 * `wanted`: only these inodes are looked up.
 */
export function socketHolders(wanted: Set<number>, cgroupRoot: string, proc = "/proc"): Map<number, SocketOwner> {
  const holders = new Map<number, SocketOwner>();
  if (wanted.size === 0) return holders;
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(join(proc, entry, "fd"));
    } catch {
      continue; // gone, or not ours to read
    }
    let owner: SocketOwner | undefined;
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(join(proc, entry, "fd", fd));
      } catch {
        continue;
      }
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (!match) continue;
      const inode = Number(match[1]);
      if (!wanted.has(inode) || holders.has(inode)) continue;
      owner ??= processOwner(join(proc, entry), Number(entry), cgroupRoot);
      if (owner) holders.set(inode, owner);
    }
  }
  return holders;
}

function processOwner(dir: string, pid: number, cgroupRoot: string): SocketOwner | undefined {
  try {
    const comm = readFileSync(join(dir, "comm"), "utf8").replace(/\n$/, "");
    // The cgroup v2 line: "0::/path".
    const line = readFileSync(join(dir, "cgroup"), "utf8").split("\n").find((l) => l.startsWith("0::"));
    let cgroupId = 0n;
    if (line) {
      try {
        cgroupId = BigInt(statSync(join(cgroupRoot, line.slice(3))).ino);
      } catch {
        // the cgroup is gone, or outside our cgroup namespace's view
      }
    }
    return { pid, comm, cgroupId };
  } catch {
    return undefined; // exited meanwhile
  }
}
