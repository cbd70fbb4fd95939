/**
 * `top` by owner (--enable-process): rows per process (pid and command) and
 * per container (id, else cgroup path), the `o` key switching between them,
 * filter words and `field:value` terms on the owner, and the flow table
 * keeping each flow's owner.
 */
import { describe, expect, test } from "bun:test";
import type { FlowOwner } from "../../../src/flow/flow-record.ts";
import { actionForKey } from "../../../src/tui/keys.ts";
import { filterFlows } from "../../../src/tui/model/flow-filter.ts";
import { FlowTable } from "../../../src/tui/model/flow-table.ts";
import { groupFlows } from "../../../src/tui/model/group-flows.ts";
import { applyAction, initialViewState } from "../../../src/tui/model/view-state.ts";
import { batch, record, stat } from "../flow-fixtures.ts";

const container = "3f2a9c01b7e4".padEnd(64, "d");
const owners = {
  iperfA: { source: "socket", pid: 4242, comm: "iperf3", cgroupId: 10, socketCookie: 1, cgroupPath: `/system.slice/docker-${container}.scope`, containerId: container },
  iperfAIn: { source: "connection", pid: 4242, comm: "iperf3", cgroupId: 10, socketCookie: 1, cgroupPath: `/system.slice/docker-${container}.scope`, containerId: container },
  iperfB: { source: "socket", pid: 4300, comm: "iperf3", cgroupId: 11, socketCookie: 2, cgroupPath: "/user.slice/session-1.scope" },
  sshd: { source: "listener", pid: 812, comm: "sshd", cgroupId: 11, socketCookie: 3, cgroupPath: "/user.slice/session-1.scope" },
  unknown: { source: "unknown", pid: 0, comm: "", cgroupId: 12, socketCookie: 4 },
  none: { source: "none", pid: 0, comm: "", cgroupId: 0, socketCookie: 0 },
} satisfies Record<string, FlowOwner>;

const flows = [
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40001, dstPort: 5201, bytes: 1000, packets: 10, owner: owners.iperfA }, [100, 50, 20]),
  stat({ src: "198.18.0.2", dst: "198.18.0.1", srcPort: 5201, dstPort: 40001, bytes: 200, packets: 2, direction: "ingress", owner: owners.iperfAIn }, [10, 5, 2]),
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40002, dstPort: 5202, bytes: 300, packets: 3, owner: owners.iperfB }, [30, 15, 6]),
  stat({ src: "198.18.0.1", dst: "198.18.0.9", srcPort: 22, dstPort: 50000, protocol: 6, bytes: 64, packets: 1, owner: owners.sshd }, [1, 1, 1]),
  stat({ src: "198.18.0.1", dst: "198.18.0.9", srcPort: 40003, dstPort: 53, bytes: 80, packets: 1, owner: owners.unknown }, [2, 2, 2]),
  stat({ src: "198.18.0.5", dst: "198.18.0.6", srcPort: 1, dstPort: 2, bytes: 50, packets: 1, owner: owners.none }, [3, 3, 3]),
  stat({ src: "198.18.0.7", dst: "198.18.0.8", srcPort: 3, dstPort: 4, bytes: 40, packets: 1 }, [4, 4, 4]), // attribution off
];
const summary = (grouping: "process" | "container") => groupFlows(flows, grouping).map((r) => [r.key, r.flows, r.bytes, r.rates.bytes[0]]);

describe("grouping by owner", () => {
  test("by process: pid and command; both directions of a connection in one row; no process, one row per reason", () => {
    expect(summary("process")).toEqual([
      ["4242 iperf3", 2, 1200, 110],
      ["4300 iperf3", 1, 300, 30],
      ["812 sshd", 1, 64, 1],
      ["(unknown)", 1, 80, 2],
      ["(none)", 1, 50, 3],
      ["-", 1, 40, 4],
    ]);
    expect(groupFlows(flows, "process")[0]!.group.owner).toEqual(owners.iperfA);
  });

  test("by container: the id, else the cgroup path (processes of one cgroup together), else why neither", () => {
    expect(summary("container")).toEqual([
      [`container ${container}`, 2, 1200, 110],
      ["cgroup /user.slice/session-1.scope", 2, 364, 31],
      ["(cgroup unknown)", 1, 80, 2],
      ["(none)", 1, 50, 3],
      ["-", 1, 40, 4],
    ]);
  });
});

describe("the o key", () => {
  test("groups by process, again by container, again by process; the selection is cleared and the sort kept valid", () => {
    const o = actionForKey("o", initialViewState())!;
    expect(o).toEqual({ type: "owner-group" });
    const selected = applyAction(initialViewState({ sort: "source" }), { type: "select", move: "down" }, ["r1"], 5);
    const byProcess = applyAction(selected, o, ["r1"], 5);
    expect(byProcess).toMatchObject({ grouping: "process", sort: "group", selection: { key: undefined } });
    expect(applyAction(byProcess, o, [], 5).grouping).toBe("container");
    expect(applyAction(applyAction(byProcess, o, [], 5), o, [], 5).grouping).toBe("process");
    expect(actionForKey("o", { ...initialViewState(), editingFilter: true })).toEqual({ type: "filter-type", text: "o" });
  });
});

describe("filtering on the owner", () => {
  const matching = (filter: string) => filterFlows(flows, filter).map((f) => flows.indexOf(f));

  test("plain words: part of the command name, cgroup path or container id, any case", () => {
    expect(matching("iperf")).toEqual([0, 1, 2]);
    expect(matching("SSHD")).toEqual([3]);
    expect(matching("session-1")).toEqual([2, 3]);
    expect(matching("3f2a9c")).toEqual([0, 1]);
    expect(matching("iperf session")).toEqual([2]);
  });

  test("terms name one field: pid equal, the others a part; flows without one never match", () => {
    expect(matching("pid:4242")).toEqual([0, 1]);
    expect(matching("pid:424")).toEqual([]);
    expect(matching("comm:iperf")).toEqual([0, 1, 2]);
    expect(matching("cgroup:/user.slice")).toEqual([2, 3]);
    expect(matching("container:3f2a")).toEqual([0, 1]);
    expect(matching("container:3f2a pid:4300")).toEqual([]);
    expect(matching("pid:812 tcp")).toEqual([3]);
    // A digit word is still a port, not a pid.
    expect(matching("4242")).toEqual([]);
    // IPv6 text with colons is not a term.
    expect(filterFlows([stat({ src: "fd00::1", dst: "fd00::2", bytes: 1, packets: 1 })], "fd00::").length).toBe(1);
  });
});

describe("the flow table keeps each flow's owner", () => {
  const a = { src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40001, dstPort: 5201 };

  test("as first reported; a flow first seen without one takes it when it arrives", () => {
    const table = new FlowTable(0);
    table.ingest(batch(1000, [record({ ...a, bytes: 1, packets: 1, owner: owners.iperfA }), record({ ...a, srcPort: 40002, bytes: 1, packets: 1 })]));
    table.ingest(batch(2000, [record({ ...a, bytes: 1, packets: 1, owner: owners.iperfB }), record({ ...a, srcPort: 40002, bytes: 1, packets: 1, owner: owners.sshd })]));
    expect(table.stats(2000).map((s) => [s.id.srcPort, s.id.owner])).toEqual([
      [40001, owners.iperfA],
      [40002, owners.sshd],
    ]);
  });
});
