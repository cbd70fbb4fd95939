/**
 * End to end: which process and cgroup each flow belongs to (--enable-process),
 * with real processes in real child cgroups of the test's own cgroup, the
 * agent inside a namespace attached to its veth:
 *  - two iperf3 clients in two cgroups: every flow, egress and ingress, names
 *    its own client's pid, comm and cgroup, and the socket cookie `ss -e` shows;
 *  - a UDP sender started before the agent is attributed (sock_diag + /proc);
 *  - a local server's accepted connections are the server's, both directions;
 *  - traffic forwarded through a namespace carries no process, though its
 *    endpoints' sockets (in other namespaces) are known to the hooks;
 *  - two UDP senders in two cgroups: a Watch client filtering on one's pid
 *    receives only its flows, and `collect` (run --export grpc) prints every
 *    flow with the owner the agent's own JSON lines print.
 */
import { $, type Subprocess } from "bun";
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess } from "../helpers/agent-process.ts";
import { TestCgroup } from "../helpers/cgroups.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair, type Host } from "../helpers/netns.ts";
import { receiveUdp, waitForTcpClosed, waitForTcpListener } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";

const helpers = join(import.meta.dir, "..", "helpers");

/** Socket cookies by local port, as `ss -e` prints them (sk:<hex>), in `ns`. */
async function cookiesByLocalPort(ns: string, protocol: "t" | "u"): Promise<Map<number, number>> {
  const out = await $`ip netns exec ${ns} ss -${protocol}aenH`.quiet().text();
  const cookies = new Map<number, number>();
  for (const line of out.split("\n")) {
    const local = /^\S+\s+\d+\s+\d+\s+\S*:(\d+)\s/.exec(line);
    const cookie = /\ssk:([0-9a-f]+)/.exec(line);
    if (local && cookie) cookies.set(Number(local[1]), Number.parseInt(cookie[1]!, 16));
  }
  return cookies;
}

const localPort = (f: FlowJson) => (f.direction === "egress" ? f.srcPort : f.dstPort);
const remotePort = (f: FlowJson) => (f.direction === "egress" ? f.dstPort : f.srcPort);

kernelTest("two iperf3 clients in two cgroups: each flow names its own client, both directions, with the socket cookie ss shows", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await using servers = TestCgroup.create("servers");
  await using cgroupA = TestCgroup.create("client-a");
  await using cgroupB = TestCgroup.create("client-b");
  await using agent = await AgentProcess.start(["run", "--enable-process", "--cache-active-timeout", "500ms", "--interfaces", a.ifname], { ns: a.ns });
  for (const port of [5301, 5302]) servers.spawn(["ip", "netns", "exec", b.ns, "iperf3", "-s", "-1", "-B", b.ipv4, "-p", String(port)]);
  await waitForTcpListener(b, 5301);
  await waitForTcpListener(b, 5302);

  const clients = [
    { cgroup: cgroupA, port: 5301 },
    { cgroup: cgroupB, port: 5302 },
  ].map(({ cgroup, port }) => ({
    cgroup,
    port,
    proc: cgroup.spawn(["ip", "netns", "exec", a.ns, "iperf3", "-4", "-c", b.ipv4, "-p", String(port), "-t", "2"]),
  }));
  // Every socket the clients open (control, then data), read while they are open.
  const cookies = new Map<number, number>();
  const running = () => clients.some((c) => c.proc.exitCode === null);
  while (running()) {
    for (const [port, cookie] of await cookiesByLocalPort(a.ns, "t")) cookies.set(port, cookie);
    await Bun.sleep(100);
  }
  for (const c of clients) expect(await c.proc.exited).toBe(0);
  await waitForTcpClosed([a, b], 5301);
  await waitForTcpClosed([a, b], 5302);
  expect(await agent.stop()).toBe(0);

  for (const { cgroup, port, proc } of clients) {
    const flows = agent.flows.filter((f) => f.interface === a.ifname && f.protocol === "TCP" && remotePort(f) === port);
    // Control and data connections, each seen both ways.
    expect(new Set(flows.map(localPort)).size).toBeGreaterThanOrEqual(2);
    expect(new Set(flows.map((f) => f.direction))).toEqual(new Set(["egress", "ingress"]));
    for (const f of flows) {
      const expected = {
        source: f.direction === "egress" ? ("socket" as const) : ("connection" as const),
        pid: proc.pid,
        comm: "iperf3",
        cgroupId: cgroup.id,
        cgroupPath: cgroup.path,
        socketCookie: cookies.get(localPort(f)),
      };
      expect({ flow: `${f.direction} ${f.srcPort}->${f.dstPort}`, owner: f.owner }).toEqual({ flow: `${f.direction} ${f.srcPort}->${f.dstPort}`, owner: expected });
    }
  }
}, 60_000);

kernelTest("a UDP sender started before the agent is attributed once the agent runs", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await using cgroup = TestCgroup.create("udp-sender");
  const receiver = await receiveUdp(b, b.ipv4, 7010, 1_000_000, 60_000);
  try {
    const sender = cgroup.spawn(["ip", "netns", "exec", a.ns, process.execPath, join(helpers, "send-udp-forever.ts"), b.ipv4, "7010", "41010"], { stdout: "pipe" });
    const reader = (sender.stdout as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the UDP sender did not start");
      text += new TextDecoder().decode(value);
    }
    const cookie = (await cookiesByLocalPort(a.ns, "u")).get(41010);
    const comm = readFileSync(`/proc/${sender.pid}/comm`, "utf8").trim();
    expect(cookie).toBeGreaterThan(0);

    await using agent = await AgentProcess.start(["run", "--enable-process", "--cache-active-timeout", "500ms", "--interfaces", a.ifname], { ns: a.ns });
    await waitFor("two evictions' flows of the sender", () => agent.flows.filter((f) => f.srcPort === 41010).length >= 2);
    expect(await agent.stop()).toBe(0);
    const flows = agent.flows.filter((f) => f.protocol === "UDP" && f.srcPort === 41010);
    for (const f of flows)
      expect(f.owner).toEqual({ source: "socket", pid: sender.pid, comm, cgroupId: cgroup.id, cgroupPath: cgroup.path, socketCookie: cookie });
  } finally {
    receiver.kill();
  }
}, 60_000);

kernelTest("a local server's accepted connections are the server's, both directions", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await using server = TestCgroup.create("server");
  await using clients = TestCgroup.create("remote-client");
  await using agent = await AgentProcess.start(["run", "--enable-process", "--cache-active-timeout", "500ms", "--interfaces", a.ifname], { ns: a.ns });
  const proc = server.spawn(["ip", "netns", "exec", a.ns, "iperf3", "-s", "-1", "-B", a.ipv4, "-p", "5303"]);
  await waitForTcpListener(a, 5303);
  const client = clients.spawn(["ip", "netns", "exec", b.ns, "iperf3", "-4", "-c", a.ipv4, "-p", "5303", "-t", "2"]);
  expect(await client.exited).toBe(0);
  expect(await proc.exited).toBe(0);
  await waitForTcpClosed([a, b], 5303);
  expect(await agent.stop()).toBe(0);

  const flows = agent.flows.filter((f) => f.interface === a.ifname && f.protocol === "TCP" && localPort(f) === 5303);
  expect(new Set(flows.map((f) => f.direction))).toEqual(new Set(["egress", "ingress"]));
  expect(new Set(flows.map(remotePort)).size).toBeGreaterThanOrEqual(2); // control and data connections
  for (const f of flows) {
    const { source, socketCookie, ...who } = f.owner!;
    expect({ flow: `${f.direction} ${f.srcPort}->${f.dstPort}`, who }).toEqual({
      flow: `${f.direction} ${f.srcPort}->${f.dstPort}`,
      who: { pid: proc.pid, comm: "iperf3", cgroupId: server.id, cgroupPath: server.path },
    });
    expect(["socket", "connection", "listener"]).toContain(source);
    expect(socketCookie).toBeGreaterThan(0);
  }
}, 60_000);

/** Three namespaces in a row, R routing between A and C. */
class RoutedNamespaces implements AsyncDisposable {
  readonly a: Host;
  readonly c: Host;
  readonly r: string;
  private constructor(id: string, subnet: number) {
    this.a = { ns: `nfFA-${id}`, ifname: "veth-a", ipv4: `198.19.${subnet}.1`, ipv6: "", mac: "" };
    this.c = { ns: `nfFC-${id}`, ifname: "veth-c", ipv4: `198.19.${subnet + 1}.1`, ipv6: "", mac: "" };
    this.r = `nfFR-${id}`;
  }

  static async create(): Promise<RoutedNamespaces> {
    const subnet = (process.pid % 120) * 2;
    const n = new RoutedNamespaces(`${process.pid}`, subnet);
    try {
      for (const ns of [n.a.ns, n.c.ns, n.r]) await $`ip netns add ${ns}`.quiet();
      await $`ip link add veth-a netns ${n.a.ns} type veth peer name r-a netns ${n.r}`.quiet();
      await $`ip link add veth-c netns ${n.c.ns} type veth peer name r-c netns ${n.r}`.quiet();
      const ex = (ns: string, cmd: string) => $`ip netns exec ${ns} sh -c ${cmd}`.quiet();
      await ex(n.r, `ip addr add 198.19.${subnet}.254/24 dev r-a && ip addr add 198.19.${subnet + 1}.254/24 dev r-c && ip link set r-a up && ip link set r-c up && ip link set lo up && sysctl -qw net.ipv4.ip_forward=1`);
      await ex(n.a.ns, `ip addr add ${n.a.ipv4}/24 dev veth-a && ip link set veth-a up && ip link set lo up && ip route add default via 198.19.${subnet}.254`);
      await ex(n.c.ns, `ip addr add ${n.c.ipv4}/24 dev veth-c && ip link set veth-c up && ip link set lo up && ip route add default via 198.19.${subnet + 1}.254`);
    } catch (error) {
      await n[Symbol.asyncDispose]();
      throw error;
    }
    return n;
  }

  async [Symbol.asyncDispose]() {
    for (const ns of [this.a.ns, this.c.ns, this.r]) await $`ip netns del ${ns}`.quiet().nothrow();
  }
}

kernelTest("traffic forwarded through a namespace carries no process", async () => {
  await using net = await RoutedNamespaces.create();
  await using agent = await AgentProcess.start(["run", "--enable-process", "--cache-active-timeout", "500ms", "--interfaces", "r-a,r-c"], { ns: net.r });
  // Both ends have sockets the hooks know (in their own namespaces): the router's flows must not borrow them.
  const receiver = await receiveUdp(net.c, net.c.ipv4, 7020, 50);
  const sent = await $`ip netns exec ${net.a.ns} ${process.execPath} ${join(helpers, "send-udp.ts")} ${net.c.ipv4} 7020 40020 50 64`.quiet().text();
  expect(JSON.parse(sent).sent).toBe(50);
  expect(await receiver.done()).toBe(50);
  const ours = (f: FlowJson) => f.protocol === "UDP" && f.dstPort === 7020;
  await waitFor("the forwarded flow on both router interfaces", () => new Set(agent.flows.filter(ours).map((f) => f.interface)).size === 2);
  expect(await agent.stop()).toBe(0);
  const flows = agent.flows.filter(ours);
  expect(flows.reduce((n, f) => n + f.packets, 0)).toBe(100); // 50 in on r-a, 50 out on r-c
  for (const f of flows) expect(f.owner).toEqual({ source: "none" });
}, 60_000);

/** Reads a Watch client's JSON lines ({dropped, flows}) into `batches` as they come. */
function readBatches(stream: ReadableStream<Uint8Array>, batches: { flows: FlowJson[] }[]) {
  return (async () => {
    let text = "";
    const reader = stream.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      text += new TextDecoder().decode(r.value);
      let nl: number;
      while ((nl = text.indexOf("\n")) >= 0) {
        batches.push(JSON.parse(text.slice(0, nl)));
        text = text.slice(nl + 1);
      }
    }
  })();
}

/** Starts send-udp-forever.ts in `cgroup` inside `ns`; resolves once its socket is bound. */
async function udpSender(cgroup: TestCgroup, ns: string, to: string, port: number, srcPort: number) {
  const proc = cgroup.spawn(["ip", "netns", "exec", ns, process.execPath, join(helpers, "send-udp-forever.ts"), to, String(port), String(srcPort)], { stdout: "pipe" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the UDP sender did not start");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return proc;
}

kernelTest("Watch filtered on a pid gets only that process's flows; collect prints the owners the agent prints", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await using cgroupA = TestCgroup.create("watched");
  await using cgroupB = TestCgroup.create("other");
  const API = "127.0.0.1:19991";
  await using collect = await AgentProcess.start(["collect", "--listen", "127.0.0.1:19999"], { ns: a.ns, readyText: "collecting on" });
  await using agent = await AgentProcess.start(
    ["run", "--enable-process", "--cache-active-timeout", "300ms", "--interfaces", a.ifname, "--api", API, "--export", "stdout,grpc", "--target", "127.0.0.1:19999"],
    { ns: a.ns },
  );
  const receivers = [await receiveUdp(b, b.ipv4, 7030, 1_000_000, 60_000), await receiveUdp(b, b.ipv4, 7031, 1_000_000, 60_000)];
  const senders: Subprocess[] = [];
  try {
    const watched = await udpSender(cgroupA, a.ns, b.ipv4, 7030, 41030);
    senders.push(watched);
    const other = await udpSender(cgroupB, a.ns, b.ipv4, 7031, 41031);
    senders.push(other);
    const comms = new Map([watched, other].map((p) => [p.pid, readFileSync(`/proc/${p.pid}/comm`, "utf8").trim()]));
    const batches: { flows: FlowJson[] }[] = [];
    const watcher = Bun.spawn(
      ["ip", "netns", "exec", a.ns, process.execPath, join(helpers, "..", "api", "watch-in-namespace.ts"), "watch", API, JSON.stringify({ pids: [watched.pid] })],
      { stdout: "pipe", stderr: "pipe" },
    );
    const reading = readBatches(watcher.stdout, batches);
    const watchedFlows = () => batches.flatMap((x) => x.flows);
    // Both senders run all along: three evictions with the watched one's flow, and the other's flows reach stdout meanwhile.
    await waitFor("three evictions of the watched sender over Watch", () => watchedFlows().filter((f) => f.srcPort === 41030).length >= 3);
    await waitFor("the other sender's flows on stdout", () => agent.flows.filter((f) => f.srcPort === 41031).length >= 3);
    watcher.kill("SIGTERM");
    await watcher.exited;
    await reading;
    await waitFor("the collector to print both senders' flows", () => [41030, 41031].every((port) => collect.flows.some((f) => f.srcPort === port)));
    expect(await agent.stop()).toBe(0);
    expect(await collect.stop()).toBe(0);

    // Watch: the watched process's flows only, each naming it.
    const ownerOf = (proc: { pid: number }, cgroup: TestCgroup) => ({
      source: "socket" as const, pid: proc.pid, comm: comms.get(proc.pid)!, cgroupId: cgroup.id, cgroupPath: cgroup.path, socketCookie: expect.any(Number),
    });
    expect(new Set(watchedFlows().map((f) => `${f.direction} ${f.srcPort}->${f.dstPort}`))).toEqual(new Set(["egress 41030->7030"]));
    for (const f of watchedFlows()) expect(f.owner).toEqual(ownerOf(watched, cgroupA));

    // collect: the same owners as the agent's JSON lines, flow for flow (ipBytes is not on the wire: left out).
    const ours = (flows: FlowJson[]) =>
      flows
        .filter((f) => f.protocol === "UDP" && (f.srcPort === 41030 || f.srcPort === 41031))
        .map((f) => JSON.stringify({ direction: f.direction, srcPort: f.srcPort, start: f.start, packets: f.packets, owner: f.owner }))
        .sort();
    expect(ours(collect.flows)).toEqual(ours(agent.flows));
    for (const f of collect.flows.filter((f) => f.srcPort === 41031)) expect(f.owner).toEqual(ownerOf(other, cgroupB));
    for (const f of collect.flows.filter((f) => f.srcPort === 41030)) expect(f.owner).toEqual(ownerOf(watched, cgroupA));
  } finally {
    for (const receiver of receivers) receiver.kill();
    // Reaped before their cgroups are removed (a cgroup with a dying task is busy).
    for (const sender of senders) sender.kill("SIGKILL");
    await Promise.all(senders.map((sender) => sender.exited));
  }
}, 90_000);
