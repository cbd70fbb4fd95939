/**
 * "Copy one file and run it": the executable alone in an empty directory,
 * the host's libbpf.so.1 and libelf.so.1 hidden (an empty file bind-mounted
 * over each, and over the files they link to, in a private mount namespace).
 * It loads the copies it carries from memory (memfd), falls back to an
 * extracted copy where executable memfds are refused, and still counts every
 * packet exactly.
 */
import { $ } from "bun";
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess } from "../helpers/agent-process.ts";
import { kernelTest, testNeeding } from "../helpers/kernel-test.ts";
import { isRoot, type Host } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import { copiedExecutable, hostLibbpfFiles, withFilesHidden } from "./compiled-binary.ts";

let scratch: string;
let empty: string;
let hostFiles: string[];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "netflow-hidden-"));
  empty = join(scratch, "empty");
  writeFileSync(empty, "");
  hostFiles = await hostLibbpfFiles();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const hidden = (cmd: string[]) => withFilesHidden(hostFiles, empty, cmd);

async function output(cmd: string[], env: Record<string, string> = {}, cwd?: string) {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

kernelTest("version: libbpf from memory while the host's libbpf and libelf are hidden", async () => {
  using copy = await copiedExecutable();
  const embedded = await output(hidden([copy.exe, "version"]), {}, copy.dir);
  expect(embedded.code).toBe(0);
  expect(embedded.stdout).toMatch(/^netflow-agent \d+\.\d+\.\d+\nlibbpf v1\.\d+ embedded \(memfd\)\nkernel \S+\nbun \S+\n$/);
  // The hiding works: the same namespace has no system libbpf to load.
  const system = await output(hidden([copy.exe, "version"]), { NETFLOW_LIBBPF: "system" }, copy.dir);
  expect(system.stdout).toContain("libbpf not found (loading libbpf.so.1: libbpf is not installed or too old");
  // The notices travel with it.
  const notices = await output([copy.exe, "version", "--notices"], {}, copy.dir);
  expect(notices.stdout).toContain("Upstream-Name: libbpf");
  expect(notices.stdout).toContain("Upstream-Name: elfutils");
  expect(notices.stdout).toContain("GNU LESSER GENERAL PUBLIC LICENSE");
}, 120000);

// vm.memfd_noexec is per PID namespace (kernel 6.3+): 2 in a new one refuses executable memfds there only.
testNeeding({ root: isRoot, "vm.memfd_noexec (kernel 6.3+)": existsSync("/proc/sys/vm/memfd_noexec") })(
  "executable memfds refused (vm.memfd_noexec=2): extracted to a private directory, removed once loaded",
  async () => {
    using copy = await copiedExecutable();
    const hostSetting = await Bun.file("/proc/sys/vm/memfd_noexec").text();
    const cmd = ["unshare", "--pid", "--fork", "sh", "-c", 'sysctl -qw vm.memfd_noexec=2 && exec "$@"', "sh", ...hidden([copy.exe, "version"])];
    const r = await output(cmd, {}, copy.dir);
    expect(r.code).toBe(0);
    const match = /^libbpf v1\.\d+ embedded \(extracted to (\S+), removed once loaded\); passed over memfd: memfd_create: EACCES .*$/m.exec(r.stdout);
    expect(match).not.toBeNull();
    expect(existsSync(match![1]!)).toBe(false);
    expect(await Bun.file("/proc/sys/vm/memfd_noexec").text()).toBe(hostSetting); // the host's is untouched
  },
  120000,
);

// ---- exact counts -------------------------------------------------------------

/** Namespaces scb-a-<pid>/scb-b-<pid> joined by veth scb-a/scb-b, IPv4 only (no IPv6 chatter), static neighbours. */
async function vethPair(): Promise<{ a: Host; b: Host } & AsyncDisposable> {
  const id = process.pid;
  const a: Host = { ns: `scb-a-${id}`, ifname: "scb-a", ipv4: "198.18.77.1", ipv6: "", mac: "02:00:00:00:77:0a" };
  const b: Host = { ns: `scb-b-${id}`, ifname: "scb-b", ipv4: "198.18.77.2", ipv6: "", mac: "02:00:00:00:77:0b" };
  const dispose = async () => {
    await $`ip netns del ${a.ns}`.quiet().nothrow();
    await $`ip netns del ${b.ns}`.quiet().nothrow();
  };
  try {
    await $`ip netns add ${a.ns}`.quiet();
    await $`ip netns add ${b.ns}`.quiet();
    await $`ip link add ${a.ifname} netns ${a.ns} address ${a.mac} type veth peer name ${b.ifname} netns ${b.ns} address ${b.mac}`.quiet();
    for (const [host, peer] of [[a, b], [b, a]] as const) {
      await $`ip netns exec ${host.ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`.quiet();
      await $`ip -n ${host.ns} addr add ${host.ipv4}/24 dev ${host.ifname}`.quiet();
      await $`ip -n ${host.ns} link set lo up`.quiet();
      await $`ip -n ${host.ns} link set ${host.ifname} up`.quiet();
      await $`ip -n ${host.ns} neigh replace ${peer.ipv4} lladdr ${peer.mac} dev ${host.ifname} nud permanent`.quiet();
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return { a, b, [Symbol.asyncDispose]: dispose };
}

function counters(host: Host) {
  const stats = JSON.parse(Bun.spawnSync(["ip", "-n", host.ns, "-s", "-j", "link", "show", host.ifname]).stdout.toString())[0].stats64;
  return { txPackets: stats.tx.packets as number, txBytes: stats.tx.bytes as number, rxPackets: stats.rx.packets as number, rxBytes: stats.rx.bytes as number };
}

const sum = (flows: FlowJson[], f: (x: FlowJson) => number) => flows.reduce((s, x) => s + f(x), 0);

kernelTest("run with the host's libbpf hidden: every UDP packet counted exactly, per flow and per interface", async () => {
  using copy = await copiedExecutable();
  await using pair = await vethPair();
  const { a, b } = pair;
  // `ip` itself links libbpf: it enters the network namespace first, the hiding comes after.
  await using agent = await AgentProcess.start(["run", "--interfaces", a.ifname, "--cache-active-timeout", "1s", "--api", "off"], {
    ns: a.ns,
    command: hidden([copy.exe]),
    cwd: copy.dir,
  });
  const before = counters(a);
  const out = await receiveUdp(b, b.ipv4, 7000, 200);
  const back = await receiveUdp(a, a.ipv4, 7001, 120);
  expect(await sendUdp(a, b.ipv4, 7000, 40001, 200, 100)).toBe(200);
  expect(await sendUdp(b, a.ipv4, 7001, 40002, 120, 1000)).toBe(120);
  out.kill();
  back.kill();
  await Bun.sleep(300);
  expect(await agent.stop()).toBe(0);
  const after = counters(a);
  const flows = agent.flows.filter((f) => f.interface === a.ifname);
  const total = (list: FlowJson[]) => ({ packets: sum(list, (f) => f.packets), bytes: sum(list, (f) => f.bytes) });
  const udp = (direction: string, srcPort: number) => flows.filter((f) => f.direction === direction && f.protocol === "UDP" && f.srcPort === srcPort);
  expect(total(udp("egress", 40001))).toEqual({ packets: 200, bytes: 200 * udpFrameBytes(100, false) });
  expect(total(udp("ingress", 40002))).toEqual({ packets: 120, bytes: 120 * udpFrameBytes(1000, false) });
  // Every packet that crossed the interface is in exactly one flow.
  expect(total(flows.filter((f) => f.direction === "egress"))).toEqual({ packets: after.txPackets - before.txPackets, bytes: after.txBytes - before.txBytes });
  expect(total(flows.filter((f) => f.direction === "ingress"))).toEqual({ packets: after.rxPackets - before.rxPackets, bytes: after.rxBytes - before.rxBytes });
  expect(agent.stderr).toContain(`attached to ${a.ifname} (tcx`);
}, 120000);
