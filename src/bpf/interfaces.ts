/** The network interfaces of this process's network namespace. */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";

export interface NetInterface {
  ifindex: number;
  name: string;
  /**
   * Which device this is: the inode of its sysfs ifindex attribute. sysfs
   * (kernfs) numbers every node it creates anew, and keeps the node through a
   * rename, so a device deleted and created again under the same name and
   * ifindex (`ip link add … index N`, a device moved in from another
   * namespace keeps its ifindex) has another instance, a renamed one the same.
   */
  instance: bigint;
}

/** What the packets of a device start with, as the TC hook sees them. */
export type LinkLayer = "ethernet" | "l3";

const ETHERNET_LINK_TYPES = new Set([1 /* ETHER */, 772 /* LOOPBACK: a zeroed Ethernet header */]);
/** No link-layer header at TC: tunnels and tun/WireGuard devices. */
const L3_LINK_TYPES = new Set([
  768 /* TUNNEL (ipip) */, 769 /* TUNNEL6 */, 776 /* SIT */, 778 /* IPGRE */, 823 /* IP6GRE */, 65534 /* NONE: tun, wireguard */,
]);

/**
 * ARPHRD_* of a device (include/uapi/linux/if_arp.h), read once when it is
 * attached rather than at every poll; NaN if it vanished meanwhile.
 */
export function readLinkType(name: string): number {
  try {
    return Number(readFileSync(`${SYS_CLASS_NET}/${name}/type`, "latin1"));
  } catch {
    return NaN;
  }
}

/** undefined for link types the parser does not know (the device is left alone). */
export function linkLayerOf(linkType: number): LinkLayer | undefined {
  if (ETHERNET_LINK_TYPES.has(linkType)) return "ethernet";
  if (L3_LINK_TYPES.has(linkType)) return "l3";
  return undefined;
}

const SYS_CLASS_NET = "/sys/class/net";

const ifindexText = Buffer.alloc(16);

/** Lists interfaces from sysfs (which `ip netns exec` remounts for the namespace). */
export function listInterfaces(): NetInterface[] {
  const out: NetInterface[] = [];
  for (const name of readdirSync(SYS_CLASS_NET)) {
    let fd: number | undefined;
    try {
      // The syscalls of a readFileSync (open, fstat, read, close), with the fstat's inode kept.
      fd = openSync(`${SYS_CLASS_NET}/${name}/ifindex`, "r");
      const instance = fstatSync(fd, { bigint: true }).ino;
      const ifindex = Number(ifindexText.toString("latin1", 0, readSync(fd, ifindexText, 0, ifindexText.length, 0)));
      if (Number.isInteger(ifindex) && ifindex > 0) out.push({ ifindex, name, instance });
    } catch {
      // Vanished between readdir and read: it will not be attached.
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return out.sort((a, b) => a.ifindex - b.ifindex);
}

/** The kernel's own packet counters of a device. */
export interface DevicePacketCounters {
  /** rx_packets: what the device received (counted before the TC ingress hook runs). */
  rxPackets: number;
  /** tx_packets: what the device sent (counted after the TC egress hook). */
  txPackets: number;
}

const counterText = Buffer.alloc(24);

function readCounterFile(path: string): number {
  const fd = openSync(path, "r");
  try {
    return Number(counterText.toString("latin1", 0, readSync(fd, counterText, 0, counterText.length, 0)));
  } finally {
    closeSync(fd);
  }
}

/**
 * rx_packets and tx_packets of `name` from sysfs (the device's
 * rtnl_link_stats64, as `ip -s link` shows it); undefined when the device
 * vanished meanwhile.
 */
export function readPacketCounters(name: string): DevicePacketCounters | undefined {
  try {
    const rxPackets = readCounterFile(`${SYS_CLASS_NET}/${name}/statistics/rx_packets`);
    const txPackets = readCounterFile(`${SYS_CLASS_NET}/${name}/statistics/tx_packets`);
    return Number.isFinite(rxPackets) && Number.isFinite(txPackets) ? { rxPackets, txPackets } : undefined;
  } catch {
    return undefined;
  }
}
