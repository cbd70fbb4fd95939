/**
 * Process attribution in the kernel (bpf/owner.h), through BPF_PROG_TEST_RUN:
 * the maps the cgroup hooks fill are written here the way they would be
 * (process-maps.ts, as the start-up scan writes them), crafted packets run
 * through the TC programs, and the drained flows carry exactly the owner the
 * lookups should find: by connection (reversed 5-tuple), by listener (the
 * bound port), none, and never a socket of another network namespace.
 * test/e2e/process-attribution.test.ts runs the hooks on real processes.
 */
import { describe, expect, test } from "bun:test";
import { writeConnection, writeListener, writeSocketOwner, type ProcessMaps } from "../../src/bpf/process-maps.ts";
import { kernelDescribe } from "../helpers/kernel-test.ts";
import { bytes, ethernet, ipv4, ipv4Addr, payload, TCP, tcp, udp } from "../helpers/packets.ts";
import { ProgramUnderTest } from "../helpers/test-run.ts";

const mapped = (ip: string) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...ipv4Addr(ip)]);
const LOCAL = "198.18.0.2";
const REMOTE = "198.18.0.1";

function udpPacket(src: string, sport: number, dst: string, dport: number) {
  const l4 = udp(sport, dport, 8);
  return bytes(ethernet(0x0800), ipv4({ protocol: 17, src, dst, payloadLength: l4.length + 8 }), l4, payload(8));
}
function tcpPacket(src: string, sport: number, dst: string, dport: number) {
  const l4 = tcp(sport, dport, TCP.ACK);
  return bytes(ethernet(0x0800), ipv4({ protocol: 6, src, dst, payloadLength: l4.length }), l4);
}

function maps(prog: ProgramUnderTest): ProcessMaps {
  const m = prog.object.processes;
  if (!m) throw new Error("loaded without process attribution");
  return m;
}

kernelDescribe("process attribution at TC", () => {
  test("off: the hooks are not loaded and flows carry no owner", async () => {
    using prog = await ProgramUnderTest.load(64);
    expect(prog.object.processes).toBeUndefined();
    prog.run(udpPacket(REMOTE, 40001, LOCAL, 7000));
    const { records } = await prog.evict();
    expect(records).toHaveLength(1);
    expect(records[0]!.owner).toBeUndefined();
  });

  describe("on", () => {
    test("ingress to a bound port: the listener's owner; an unbound port: none", async () => {
      using prog = await ProgramUnderTest.load(64, undefined, undefined, undefined, true);
      const m = maps(prog);
      writeSocketOwner(m, 4242n, { pid: 31337, comm: "udp-server", cgroupId: 777n });
      writeListener(m, 17, 7000, 4242n);
      prog.run(udpPacket(REMOTE, 40001, LOCAL, 7000), { times: 3 });
      prog.run(udpPacket(REMOTE, 40001, LOCAL, 7001));
      prog.run(tcpPacket(REMOTE, 40001, LOCAL, 7000)); // TCP: another protocol's port
      const { records } = await prog.evict();
      const byPort = Object.fromEntries(records.map((r) => [`${r.protocol}/${r.dstPort}`, r]));
      expect(byPort["17/7000"]!.packets).toBe(3);
      expect(byPort["17/7000"]!.owner).toEqual({ source: "listener", pid: 31337, comm: "udp-server", cgroupId: 777, socketCookie: 4242 });
      expect(byPort["17/7001"]!.owner).toEqual({ source: "none", pid: 0, comm: "", cgroupId: 0, socketCookie: 0 });
      expect(byPort["6/7000"]!.owner!.source).toBe("none");
    });

    test("ingress of a connection: the reversed 5-tuple's socket, before the listener", async () => {
      using prog = await ProgramUnderTest.load(64, undefined, undefined, undefined, true);
      const m = maps(prog);
      writeSocketOwner(m, 1n, { pid: 100, comm: "listener", cgroupId: 10n });
      writeSocketOwner(m, 2n, { pid: 200, comm: "client", cgroupId: 20n });
      writeListener(m, 6, 5201, 1n);
      // The local socket's connection, local side first: 198.18.0.2:5201 <-> 198.18.0.1:40001.
      writeConnection(m, 6, { addr: mapped(LOCAL), port: 5201 }, { addr: mapped(REMOTE), port: 40001 }, 2n);
      prog.run(tcpPacket(REMOTE, 40001, LOCAL, 5201));
      prog.run(tcpPacket(REMOTE, 40002, LOCAL, 5201));
      const { records } = await prog.evict();
      const bySport = Object.fromEntries(records.map((r) => [r.srcPort, r.owner]));
      expect(bySport[40001]).toEqual({ source: "connection", pid: 200, comm: "client", cgroupId: 20, socketCookie: 2 });
      expect(bySport[40002]).toEqual({ source: "listener", pid: 100, comm: "listener", cgroupId: 10, socketCookie: 1 });
    });

    test("a socket of another network namespace never stands for this one's traffic", async () => {
      using prog = await ProgramUnderTest.load(64, undefined, undefined, undefined, true);
      const m = maps(prog);
      expect(m.netnsCookie).toBeGreaterThan(0n);
      const other: ProcessMaps = { ...m, netnsCookie: m.netnsCookie + 1n };
      writeSocketOwner(m, 9n, { pid: 900, comm: "elsewhere", cgroupId: 90n });
      writeListener(other, 17, 7000, 9n);
      writeConnection(other, 6, { addr: mapped(LOCAL), port: 5201 }, { addr: mapped(REMOTE), port: 40001 }, 9n);
      prog.run(udpPacket(REMOTE, 40001, LOCAL, 7000));
      prog.run(tcpPacket(REMOTE, 40001, LOCAL, 5201));
      const { records } = await prog.evict();
      expect(records.map((r) => r.owner!.source)).toEqual(["none", "none"]);
    });

    test("egress from a socket the hooks never saw, on a bound port: the listener's owner, the packet's own cookie", async () => {
      using prog = await ProgramUnderTest.load(64, undefined, undefined, undefined, true);
      const m = maps(prog);
      writeSocketOwner(m, 5n, { pid: 500, comm: "server", cgroupId: 50n }, { boundPort: 40001 });
      writeListener(m, 17, 40001, 5n);
      // A test run gives the skb a socket of its own (BPF_PROG_TEST_RUN allocates one): like an accepted connection's.
      prog.run(udpPacket(LOCAL, 40001, REMOTE, 7000), { egress: true });
      const { records } = await prog.evict();
      const owner = records[0]!.owner!;
      expect({ ...owner, socketCookie: 0 }).toEqual({ source: "listener", pid: 500, comm: "server", cgroupId: 50, socketCookie: 0 });
      expect(owner.socketCookie).toBeGreaterThan(0);
      expect(owner.socketCookie).not.toBe(5);
    });

    test("a known flow never looks again: the owner is the one its first packet found", async () => {
      using prog = await ProgramUnderTest.load(64, undefined, undefined, undefined, true);
      const m = maps(prog);
      writeSocketOwner(m, 6n, { pid: 600, comm: "late", cgroupId: 60n });
      prog.run(udpPacket(REMOTE, 7000, LOCAL, 40002));
      writeListener(m, 17, 40002, 6n);
      prog.run(udpPacket(REMOTE, 7000, LOCAL, 40002), { times: 4 });
      const first = await prog.evict();
      expect({ packets: first.records[0]!.packets, source: first.records[0]!.owner!.source }).toEqual({ packets: 5, source: "none" });
      // The next interval's flow is new: it looks up again and finds the listener.
      prog.run(udpPacket(REMOTE, 7000, LOCAL, 40002));
      const next = await prog.evict();
      expect(next.records[0]!.owner).toEqual({ source: "listener", pid: 600, comm: "late", cgroupId: 60, socketCookie: 6 });
    });
  });
});
