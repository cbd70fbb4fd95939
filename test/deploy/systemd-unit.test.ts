/**
 * deploy/systemd/: systemd accepts the unit (systemd-analyze verify, and its
 * sandboxing scored by `systemd-analyze security`); the env file documents
 * every NETFLOW_* setting of `run --help` with its default; and the shipped
 * executable, run with the unit's user, capabilities, bounding set,
 * no_new_privs and memlock limit (setpriv, read from the unit file itself),
 * loads, attaches and counts every packet. test/deploy/systemd-nspawn.test.ts
 * runs the same unit under systemd itself.
 */
import { $ } from "bun";
import { expect, test } from "bun:test";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { copiedExecutable } from "../build/compiled-binary.ts";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";
import { waitForFlowsToMatchCounters } from "../helpers/interface-totals.ts";
import { testNeeding } from "../helpers/kernel-test.ts";
import { counterDelta, isRoot, VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import {
  capabilityList,
  capabilityMask,
  envFilePath,
  envFileSettings,
  helpSettings,
  limitArgs,
  NOBODY,
  readUnit,
  serviceValue,
  setprivArgs,
  unitPath,
} from "./unit-file.ts";

const hasSystemdAnalyze = Bun.which("systemd-analyze") !== null;
const analyzeTest = testNeeding({ "systemd-analyze (Debian package systemd)": hasSystemdAnalyze }, "deploy test");
const setprivTest = testNeeding({ root: isRoot, setpriv: Bun.which("setpriv") !== null });

const unitName = "netflow-agent.service";
const unitText = readFileSync(unitPath, "utf8");

/**
 * A root for `systemd-analyze --root`: the unit as shipped in
 * /etc/systemd/system, systemd's own units (the targets it is ordered
 * against), and an executable at the ExecStart path: verify checks it exists.
 */
function analyzeRoot(text = unitText): { dir: string } & Disposable {
  const dir = mkdtempSync(join(tmpdir(), "netflow-unit-"));
  mkdirSync(join(dir, "etc", "systemd", "system"), { recursive: true });
  writeFileSync(join(dir, "etc", "systemd", "system", unitName), text);
  cpSync("/usr/lib/systemd/system", join(dir, "usr", "lib", "systemd", "system"), { recursive: true, verbatimSymlinks: true });
  const execStart = serviceValue(readUnit(unitPath), "ExecStart")!.split(/\s+/)[0]!;
  mkdirSync(join(dir, execStart, ".."), { recursive: true });
  writeFileSync(join(dir, execStart), "#!/bin/sh\n", { mode: 0o755 });
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

async function verify(root: string) {
  const result = await $`systemd-analyze verify --man=no --root=${root} /etc/systemd/system/${unitName}`.nothrow().quiet();
  return { code: result.exitCode, output: (result.stdout.toString() + result.stderr.toString()).trim() };
}

analyzeTest("systemd-analyze verify accepts the unit without a warning", async () => {
  using root = analyzeRoot();
  expect(await verify(root.dir)).toEqual({ code: 0, output: "" });
});

analyzeTest("verify's warnings are caught: a misspelled key and a bad value are reported", async () => {
  using root = analyzeRoot(unitText.replace(/^ProtectSystem=strict$/m, "ProtectSytem=strict").replace(/^RestrictNamespaces=yes$/m, "RestrictNamespaces=maybe"));
  const { output } = await verify(root.dir);
  expect(output).toContain("Unknown key 'ProtectSytem' in section [Service]");
  expect(output).toContain("Failed to parse namespace type string, ignoring: maybe");
});

analyzeTest("systemd-analyze security rates the sandbox at exposure 2.5 or lower (of 10)", async () => {
  using root = analyzeRoot();
  const result = await $`systemd-analyze security --offline=yes --root=${root.dir} --threshold=25 --no-pager ${unitName}`.nothrow().quiet();
  const overall = /Overall exposure level for \S+: ([\d.]+)/.exec(result.stdout.toString())?.[1];
  expect({ code: result.exitCode, overall: Number(overall) <= 2.5 }).toEqual({ code: 0, overall: true });
});

test("the unit grants CAP_BPF and CAP_NET_ADMIN, no more, to a non-root user, and keeps bpf(2) and memfd loading possible", () => {
  const unit = readUnit();
  expect(capabilityList(unit, "AmbientCapabilities")).toEqual(["bpf", "net_admin"]);
  expect(capabilityList(unit, "CapabilityBoundingSet")).toEqual(["bpf", "net_admin"]);
  expect(serviceValue(unit, "DynamicUser")).toBe("yes");
  expect(serviceValue(unit, "NoNewPrivileges")).toBe("yes");
  expect(serviceValue(unit, "EnvironmentFile")).toBe("-/etc/netflow-agent/netflow-agent.env");
  expect(serviceValue(unit, "SystemCallFilter")!.split(/\s+/)).toContain("bpf");
  // What would break the runtime: Bun's JIT and the memfd-loaded libbpf need W+X and exec mappings.
  for (const key of ["MemoryDenyWriteExecute", "NoExecPaths", "PrivateNetwork", "PrivateUsers", "ProtectProc", "ProcSubset"])
    expect({ key, value: serviceValue(unit, key) }).toEqual({ key, value: undefined });
});

test("the env file shows every NETFLOW_* setting of `run --help`, each with its default where the help gives one", async () => {
  const help = await $`${process.execPath} ${cliPath} run --help`.text();
  const fromHelp = helpSettings(help);
  const inFile = envFileSettings(readFileSync(envFilePath, "utf8"));
  expect(fromHelp.size).toBeGreaterThan(20);
  expect([...inFile.keys()].sort()).toEqual([...fromHelp.keys()].sort());
  const defaults = [...fromHelp].filter(([, value]) => value !== undefined && value !== "all").map(([name, value]) => [name, value]);
  expect(defaults.map(([name]) => [name, inFile.get(name!)])).toEqual(defaults);
});

const sum = (flows: FlowJson[], f: (x: FlowJson) => number) => flows.reduce((s, x) => s + f(x), 0);

setprivTest("as the unit runs it (nobody, the unit's capabilities and bounding set, no_new_privs): loads, attaches, counts exactly, detaches", async () => {
  const unit = readUnit();
  const ambient = capabilityMask(capabilityList(unit, "AmbientCapabilities"));
  const bounding = capabilityMask(capabilityList(unit, "CapabilityBoundingSet"));
  using build = await copiedExecutable();
  chmodSync(build.dir, 0o755); // mkdtemp made it 0700: nobody could not reach the executable
  chmodSync(build.exe, 0o755);
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  await using agent = await AgentProcess.start(["run", "--interfaces", a.ifname, "--api", "off", "--cache-active-timeout", "1s"], {
    ns: a.ns,
    command: [...limitArgs(unit), ...setprivArgs(unit), build.exe],
    cwd: "/",
  });
  expect(agent.stderr).toContain("attached to veth-a (tcx, ifindex");
  // What the kernel sees of the process: the unit's user, capabilities and no_new_privs.
  const status = readFileSync(`/proc/${agent.pid}/status`, "utf8");
  const field = (name: string) => new RegExp(`^${name}:\\t(.*)$`, "m").exec(status)?.[1];
  const mask = (name: string) => BigInt("0x" + field(name));
  expect({
    uid: field("Uid"),
    effective: mask("CapEff"),
    ambient: mask("CapAmb"),
    bounding: mask("CapBnd"),
    noNewPrivs: field("NoNewPrivs"),
  }).toEqual({ uid: `${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`, effective: ambient, ambient, bounding, noNewPrivs: "1" });
  if (limitArgs(unit).length > 0) expect(readFileSync(`/proc/${agent.pid}/limits`, "utf8")).toMatch(/^Max locked memory +unlimited +unlimited/m);

  const before = pair.counters(a);
  const out = await receiveUdp(b, b.ipv4, 7310, 120);
  const back = await receiveUdp(a, a.ipv6, 7311, 60);
  expect(await sendUdp(a, b.ipv4, 7310, 43010, 120, 300)).toBe(120);
  expect(await sendUdp(b, a.ipv6, 7311, 43011, 60, 700)).toBe(60);
  out.kill();
  back.kill();
  await waitForFlowsToMatchCounters(pair, a, before, () => agent.flows);
  expect(await agent.stop()).toBe(0);
  const delta = counterDelta(before, pair.counters(a));
  const onVeth = agent.flows.filter((f) => f.interface === a.ifname);
  const udpOut = onVeth.filter((f) => f.direction === "egress" && f.srcPort === 43010 && f.dstPort === 7310);
  const udpIn = onVeth.filter((f) => f.direction === "ingress" && f.srcPort === 43011 && f.dstPort === 7311);
  expect({ packets: sum(udpOut, (f) => f.packets), bytes: sum(udpOut, (f) => f.bytes) }).toEqual({ packets: 120, bytes: 120 * udpFrameBytes(300, false) });
  expect({ packets: sum(udpIn, (f) => f.packets), bytes: sum(udpIn, (f) => f.bytes) }).toEqual({ packets: 60, bytes: 60 * udpFrameBytes(700, true) });
  const egress = onVeth.filter((f) => f.direction === "egress");
  const ingress = onVeth.filter((f) => f.direction === "ingress");
  expect({ packets: sum(egress, (f) => f.packets), bytes: sum(egress, (f) => f.bytes) }).toEqual({ packets: delta.txPackets, bytes: delta.txBytes });
  expect({ packets: sum(ingress, (f) => f.packets), bytes: sum(ingress, (f) => f.bytes) }).toEqual({ packets: delta.rxPackets, bytes: delta.rxBytes });
}, 120000);
