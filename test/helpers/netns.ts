/**
 * Test hosts: two network namespaces joined by a veth pair, quiet enough that
 * interface counters can be compared with flow totals exactly (static
 * neighbours, no DAD, no router solicitations). Addresses are in
 * 198.18.0.0/15 and fd00::/8. Disposing deletes both namespaces.
 */
import { $ } from "bun";

/** Gate tests with kernelTest (kernel-test.ts) rather than skipping on this: under CI=true a test that cannot run must fail. */
export const isRoot = process.getuid?.() === 0;

let counter = 0;

export interface Host {
  ns: string;
  ifname: string;
  ipv4: string;
  ipv6: string;
  mac: string;
}

export interface InterfaceCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
}

export class VethPair implements AsyncDisposable {
  private constructor(readonly a: Host, readonly b: Host) {}

  /** Creates nfA-<id>/nfB-<id> with veth ends "veth-a"/"veth-b". `subnet` picks 198.18.<subnet>.0/24. */
  static async create(subnet = (process.pid + counter) % 250): Promise<VethPair> {
    const id = `${process.pid}-${counter++}`;
    const a: Host = { ns: `nfA-${id}`, ifname: "veth-a", ipv4: `198.18.${subnet}.1`, ipv6: `fd00:${subnet.toString(16)}::1`, mac: "02:00:00:00:00:0a" };
    const b: Host = { ns: `nfB-${id}`, ifname: "veth-b", ipv4: `198.18.${subnet}.2`, ipv6: `fd00:${subnet.toString(16)}::2`, mac: "02:00:00:00:00:0b" };
    const pair = new VethPair(a, b);
    try {
      await $`ip netns add ${a.ns}`.quiet();
      await $`ip netns add ${b.ns}`.quiet();
      await $`ip link add ${a.ifname} netns ${a.ns} address ${a.mac} type veth peer name ${b.ifname} netns ${b.ns} address ${b.mac}`.quiet();
      for (const [host, peer] of [[a, b], [b, a]] as const) await configureHost(host, peer, true);
    } catch (error) {
      await pair[Symbol.asyncDispose]();
      throw error;
    }
    return pair;
  }

  /** Waits for link-up chatter (IPv6 MLD reports) to die down so counters stay still. */
  async settle(maxMs = 8000) {
    const start = Date.now();
    let last = JSON.stringify([this.counters(this.a), this.counters(this.b)]);
    let stillFor = 0;
    while (Date.now() - start < maxMs) {
      await Bun.sleep(250);
      const now = JSON.stringify([this.counters(this.a), this.counters(this.b)]);
      stillFor = now === last ? stillFor + 250 : 0;
      last = now;
      if (stillFor >= 1500) return;
    }
  }

  /** The interface's counters as the kernel keeps them (read through the namespace's sysfs). */
  counters(host: Host): InterfaceCounters {
    const out = Bun.spawnSync(["ip", "-n", host.ns, "-s", "-j", "link", "show", host.ifname]).stdout.toString();
    const stats = JSON.parse(out)[0].stats64;
    return { rxPackets: stats.rx.packets, rxBytes: stats.rx.bytes, txPackets: stats.tx.packets, txBytes: stats.tx.bytes };
  }

  async exec(host: Host, cmd: string[]) {
    return $`ip netns exec ${host.ns} ${cmd}`.quiet();
  }

  async [Symbol.asyncDispose]() {
    await $`ip netns del ${this.a.ns}`.quiet().nothrow();
    await $`ip netns del ${this.b.ns}`.quiet().nothrow();
  }
}

export function counterDelta(before: InterfaceCounters, after: InterfaceCounters): InterfaceCounters {
  return {
    rxPackets: after.rxPackets - before.rxPackets,
    rxBytes: after.rxBytes - before.rxBytes,
    txPackets: after.txPackets - before.txPackets,
    txBytes: after.txBytes - before.txBytes,
  };
}

/**
 * Quiet IPv6 (no DAD, router solicitations or RAs), the addresses, lo and the
 * interface up, and (staticNeighbours) the peer's MAC for both addresses, so
 * no ARP or ND frame is ever counted. Shared by VethPair and the delay line.
 */
export async function configureHost(host: Host, peer: Host, staticNeighbours: boolean) {
  const ex = (cmd: string[]) => $`ip netns exec ${host.ns} ${cmd}`.quiet();
  for (const sysctl of [
    `net.ipv6.conf.all.accept_dad=0`,
    `net.ipv6.conf.default.accept_dad=0`,
    `net.ipv6.conf.${host.ifname}.accept_dad=0`,
    `net.ipv6.conf.${host.ifname}.router_solicitations=0`,
    `net.ipv6.conf.${host.ifname}.accept_ra=0`,
  ])
    await ex(["sysctl", "-qw", sysctl]);
  await ex(["ip", "addr", "add", `${host.ipv4}/24`, "dev", host.ifname]);
  await ex(["ip", "-6", "addr", "add", `${host.ipv6}/64`, "dev", host.ifname, "nodad"]);
  await ex(["ip", "link", "set", "lo", "up"]);
  await ex(["ip", "link", "set", host.ifname, "up"]);
  if (staticNeighbours) {
    await ex(["ip", "neigh", "replace", peer.ipv4, "lladdr", peer.mac, "dev", host.ifname, "nud", "permanent"]);
    await ex(["ip", "-6", "neigh", "replace", peer.ipv6, "lladdr", peer.mac, "dev", host.ifname, "nud", "permanent"]);
  }
}
