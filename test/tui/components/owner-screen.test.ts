/** Frames of `top` by owner: the process and container tables, a flow's owner in its details, a group's. */
import { describe, expect, test } from "bun:test";
import { renderScreen } from "../../../src/tui/components/screen.ts";
import { plainStyle } from "../../../src/tui/components/style.ts";
import { trafficTotals } from "../../../src/tui/model/top-view.ts";
import { groupFlows } from "../../../src/tui/model/group-flows.ts";
import { sortRows } from "../../../src/tui/model/sort-rows.ts";
import { initialViewState } from "../../../src/tui/model/view-state.ts";
import { stat } from "../flow-fixtures.ts";
import { header, noNames } from "./view-fixture.ts";

const container = "3f2a9c01b7e4".padEnd(64, "d");
const path = `/system.slice/docker-${container}.scope`;
const flows = [
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40001, dstPort: 5201, bytes: 312600, packets: 300, owner: { source: "socket", pid: 4242, comm: "iperf3", cgroupId: 10, socketCookie: 8231, cgroupPath: path, containerId: container } }, [156300, 31260, 7815]),
  stat({ src: "198.18.0.1", dst: "198.18.0.3", srcPort: 22, dstPort: 50000, protocol: 6, bytes: 24200, packets: 100, owner: { source: "listener", pid: 812, comm: "sshd", cgroupId: 11, socketCookie: 9, cgroupPath: "/system.slice/ssh.service" } }, [12100, 2420, 605]),
  stat({ src: "198.18.0.5", dst: "198.18.0.6", srcPort: 1, dstPort: 2, bytes: 1500, packets: 12, direction: "ingress", owner: { source: "none", pid: 0, comm: "", cgroupId: 0, socketCookie: 0 } }, [750, 150, 37.5]),
];
const view = { ...header, totals: trafficTotals(flows) };

describe("top by owner", () => {
  test("by process: one row per process, its details name its cgroup and container", () => {
    const rows = sortRows(groupFlows(flows, "process"), "2s", false);
    const state = { ...initialViewState({ grouping: "process" }), selection: { key: rows[0]!.key, index: 0 } };
    const lines = renderScreen({ header: view, rows, state, nameOf: noNames, scrollTop: 0 }, 100, 18, plainStyle);
    expect(lines.map((l) => [...l].length)).toEqual(Array(18).fill(100));
    expect(lines.slice(3).map((l) => l.trimEnd())).toEqual([
      "by process · sort 2s · no filter · bytes · names off",
      "PROCESS           FLOWS PROTO        2s▼       10s       40s   TOTAL   PKTS FLAGS",
      "iperf3 (4242)         1 UDP      156kB/s  31.3kB/s   7.8kB/s   313kB    300        █████████████████",
      "sshd (812)            1 TCP     12.1kB/s   2.4kB/s    605B/s  24.2kB    100        █▎",
      "(no local socket)     1 UDP       750B/s    150B/s   37.5B/s   1.5kB     12",
      "",
      "─ details (Esc to close) ───────────────────────────────────────────────────────────────────────────",
      "process  iperf3 (4242)",
      "owner    iperf3 pid 4242 · cgroup /system.slice/docker-3f2a9c01b7e4dddddddddddddddddddddddddddddddd…",
      "flows    1 · protocols UDP · tcp flags -",
      "rates    2s 156kB/s 1.6k pkt/s · 10s 31.3kB/s 313 pkt/s · 40s 7.8kB/s 78 pkt/s",
      "total    312600 bytes · 300 packets",
      "    156kB/s       312600 B  eth0 out UDP 198.18.0.1:40001 → 198.18.0.2:5201",
      "",
      "q quit  ? help  </> sort  r reverse  g o group  / filter  space pause  ↑↓ select  n names  u units",
    ]);
  });

  test("by container: the id's first 12 digits, else the cgroup path", () => {
    const rows = sortRows(groupFlows(flows, "container"), "2s", false);
    const lines = renderScreen({ header: view, rows, state: initialViewState({ grouping: "container" }), nameOf: noNames, scrollTop: 0 }, 120, 10, plainStyle);
    expect(lines.slice(4, 8).map((l) => l.trimEnd().replace(/ +█.*$/, ""))).toEqual([
      "CONTAINER                 FLOWS PROTO        2s▼       10s       40s   TOTAL   PKTS FLAGS",
      "3f2a9c01b7e4                  1 UDP      156kB/s  31.3kB/s   7.8kB/s   313kB    300",
      "/system.slice/ssh.service     1 TCP     12.1kB/s   2.4kB/s    605B/s  24.2kB    100",
      "(no local socket)             1 UDP       750B/s    150B/s   37.5B/s   1.5kB     12        ▏",
    ]);
  });

  test("a selected flow's details say who owns it and how that was found", () => {
    const rows = sortRows(groupFlows(flows, "flow"), "2s", false);
    const details = (index: number) => {
      const state = { ...initialViewState(), selection: { key: rows[index]!.key, index } };
      const lines = renderScreen({ header: view, rows, state, nameOf: noNames, scrollTop: 0 }, 240, 20, plainStyle);
      return lines.map((l) => l.trimEnd()).filter((l) => l.startsWith("owner"));
    };
    expect(details(0)).toEqual([`owner    iperf3 pid 4242 · socket · cgroup ${path} · container ${container}`]);
    expect(details(1)).toEqual(["owner    sshd pid 812 · listener · cgroup /system.slice/ssh.service"]);
    expect(details(2)).toEqual(["owner    none (no local socket: forwarded, or sent by the kernel)"]);
  });
});

describe("top: a flow's DNS transaction (--enable-dns)", () => {
  test("its details say name, response code, latency and id", () => {
    const dnsFlow = { ...stat({ src: "198.18.0.2", dst: "198.18.0.1", srcPort: 53, dstPort: 41234, bytes: 90, packets: 1, direction: "ingress" }, [45, 9, 2.25]), dns: { id: 45660, flags: 0x8183, latencyNs: 40_396_000, name: "nosuch.test" } };
    const rows = sortRows(groupFlows([dnsFlow], "flow"), "2s", false);
    const state = { ...initialViewState(), selection: { key: rows[0]!.key, index: 0 } };
    const lines = renderScreen({ header: { ...header, totals: trafficTotals([dnsFlow]) }, rows, state, nameOf: noNames, scrollTop: 0 }, 160, 20, plainStyle);
    expect(lines.map((l) => l.trimEnd()).filter((l) => l.startsWith("dns"))).toEqual(["dns      nosuch.test · NXDOMAIN · 40.4 ms · id 45660"]);
  });
});
