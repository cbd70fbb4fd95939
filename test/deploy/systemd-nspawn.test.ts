/**
 * The unit under systemd itself: this machine's PID 1 is not systemd, so
 * systemd-nspawn boots one (the host's /usr, a volatile root) in the network
 * namespace of one end of a veth pair, with deploy/systemd/netflow-agent.service
 * installed as shipped and the executable at its ExecStart path. Every
 * setting of the unit applies (dynamic user, capabilities, seccomp filter,
 * read-only system, private /tmp): the agent loads libbpf from a memfd,
 * attaches, counts every packet into the journal and detaches on stop.
 */
import { $, type Subprocess } from "bun";
import { expect } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { copiedExecutable } from "../build/compiled-binary.ts";
import { waitForFlowsToMatchCounters } from "../helpers/interface-totals.ts";
import { testNeeding } from "../helpers/kernel-test.ts";
import { counterDelta, isRoot, VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { capabilityList, capabilityMask, readUnit, serviceValue, unitPath } from "./unit-file.ts";

const tcxCount = join(import.meta.dir, "..", "helpers", "tcx-count.ts");
const nspawnTest = testNeeding({ root: isRoot, "systemd-nspawn (Debian package systemd-container)": Bun.which("systemd-nspawn") !== null });

/** A booted systemd in its own container; disposing powers it off (then kills it). */
class BootedSystemd implements AsyncDisposable {
  output = "";
  private constructor(
    private readonly nspawn: Subprocess<"ignore", "pipe", "pipe">,
    /** The container's PID 1, as the host numbers it. */
    readonly leader: number,
  ) {}

  /** Boots the host's /usr with `binds` ("host:container", read-only) in the network namespace `ns`. */
  static async boot(ns: string, binds: string[]): Promise<BootedSystemd> {
    const nspawn = Bun.spawn(
      [
        "systemd-nspawn",
        "--quiet",
        "--directory=/",
        "--volatile=yes", // a tmpfs root with the host's /usr, read-only
        "--boot",
        "--register=no", // no systemd on the host to register with
        "--keep-unit",
        "--console=pipe",
        `--machine=netflow-${process.pid}`,
        `--network-namespace-path=/run/netns/${ns}`,
        // nspawn's own bounding set and seccomp filter leave out what the agent needs: let the unit decide.
        "--capability=CAP_BPF,CAP_NET_ADMIN",
        "--system-call-filter=bpf",
        ...binds.map((bind) => `--bind-ro=${bind}`),
        // Kernel command line of the container's systemd: no first-boot questions, and only
        // basic.target (the host's own services, enabled for other tests, stay down).
        "systemd.firstboot=off",
        "systemd.unit=basic.target",
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    // nspawn's child forks the container's PID 1 and exits; PID 1 is then nspawn's child, running systemd.
    const systemdChild = () => {
      try {
        const pids = readFileSync(`/proc/${nspawn.pid}/task/${nspawn.pid}/children`, "utf8").trim().split(/\s+/);
        return pids.find((pid) => pid !== "" && readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "systemd");
      } catch {
        return undefined; // gone meanwhile
      }
    };
    let booted: BootedSystemd | undefined;
    try {
      const leader = Number(await waitFor("systemd-nspawn's container", () => nspawn.exitCode === null && systemdChild()));
      booted = new BootedSystemd(nspawn, leader);
      const system = booted;
      for (const stream of [nspawn.stdout, nspawn.stderr])
        void (async () => {
          const decoder = new TextDecoder();
          const reader = stream.getReader();
          for (let r = await reader.read(); !r.done; r = await reader.read()) system.output += decoder.decode(r.value, { stream: true });
        })();
      await waitFor("the container's systemd to finish booting", async () => ["running", "degraded"].includes((await system.exec(["systemctl", "is-system-running"])).stdout), {
        state: () => system.output.slice(-2000),
        everyMs: 250,
      });
      return booted;
    } catch (error) {
      if (booted) await booted[Symbol.asyncDispose]();
      else nspawn.kill("SIGKILL");
      throw error;
    }
  }

  /** `cmd` inside the container (all its namespaces). */
  async exec(cmd: string[]) {
    const result = await $`nsenter --target ${this.leader} --all ${cmd}`.nothrow().quiet();
    return { code: result.exitCode, stdout: result.stdout.toString().trim(), stderr: result.stderr.toString().trim() };
  }

  async run(cmd: string[]): Promise<string> {
    const result = await this.exec(cmd);
    if (result.code !== 0) throw new Error(`${cmd.join(" ")} in the container: exit ${result.code}: ${result.stderr}`);
    return result.stdout;
  }

  /** Halt (SIGTERM: nspawn asks systemd to power off), a second SIGTERM after 10 s, SIGKILL after 20 s. */
  async [Symbol.asyncDispose]() {
    const deadline = (ms: number) => Promise.race([this.nspawn.exited, Bun.sleep(ms).then(() => undefined)]);
    for (const signal of ["SIGTERM", "SIGTERM", "SIGKILL"] as const) {
      if (this.nspawn.exitCode !== null) break;
      this.nspawn.kill(signal);
      await deadline(10_000);
    }
    await this.nspawn.exited;
  }
}

/** The unit's journal lines, followed as they are written; flows parsed. */
async function followJournal(system: BootedSystemd, unit: string) {
  const proc = Bun.spawn(["nsenter", "--target", String(system.leader), "--all", "journalctl", "--unit", unit, "--output", "cat", "--follow", "--lines", "all"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "ignore",
  });
  const lines: string[] = [];
  const flows: FlowJson[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    let text = "";
    const reader = proc.stdout.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      text += decoder.decode(r.value, { stream: true });
      const parts = text.split("\n");
      text = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (line.startsWith("{")) flows.push(JSON.parse(line));
      }
    }
  })();
  return {
    lines,
    flows,
    text: () => lines.join("\n"),
    [Symbol.dispose]: () => proc.kill(),
  };
}

const sum = (flows: FlowJson[], f: (x: FlowJson) => number) => flows.reduce((s, x) => s + f(x), 0);

nspawnTest("under systemd: the unit as shipped runs the agent as a dynamic user with the two capabilities; it counts exactly and detaches", async () => {
  const unit = readUnit();
  const capabilities = capabilityMask(capabilityList(unit, "AmbientCapabilities"));
  const execStart = serviceValue(unit, "ExecStart")!.split(/\s+/)[0]!;
  using build = await copiedExecutable();
  chmodSync(build.dir, 0o755);
  const config = mkdtempSync(join(tmpdir(), "netflow-env-"));
  try {
    const envFile = join(config, "netflow-agent.env");
    writeFileSync(envFile, "NETFLOW_INTERFACES=veth-a\nNETFLOW_API=127.0.0.1:9990\nNETFLOW_CACHE_ACTIVE_TIMEOUT=1s\n");
    await using pair = await VethPair.create();
    const { a, b } = pair;
    await using system = await BootedSystemd.boot(a.ns, [
      `${build.dir}:${join(execStart, "..")}`,
      `${unitPath}:/etc/systemd/system/netflow-agent.service`,
      `${envFile}:/etc/netflow-agent/netflow-agent.env`,
    ]);
    // nspawn (252) leaves the host's /sys in place with --network-namespace-path: its
    // class/net lists the host's interfaces. A sysfs mounted in the container's
    // network namespace lists the container's, as on a real host.
    await system.run([
      "sh",
      "-c",
      "mkdir -p /run/netns-sysfs && mount -t sysfs -o ro sysfs /run/netns-sysfs && " +
        "mount --bind /run/netns-sysfs/class/net /sys/class/net && mount --bind /run/netns-sysfs/devices/virtual/net /sys/devices/virtual/net",
    ]);
    await pair.settle();
    using journal = await followJournal(system, "netflow-agent.service");
    await system.run(["systemctl", "start", "netflow-agent.service"]);
    await waitFor("the agent to capture", () => journal.text().includes("capturing on 1 interface(s): veth-a"), { state: () => journal.text() });
    expect(journal.text()).toContain("attached to veth-a (tcx, ifindex");

    const mainPid = await system.run(["systemctl", "show", "--property=MainPID", "--value", "netflow-agent.service"]);
    const status = await system.run(["cat", `/proc/${mainPid}/status`]);
    const field = (name: string) => new RegExp(`^${name}:\\t(.*)$`, "m").exec(status)?.[1];
    const uid = Number(field("Uid")!.split("\t")[0]);
    expect({
      // systemd's dynamic users: 61184-65519
      dynamicUser: uid >= 61184 && uid <= 65519,
      effective: BigInt("0x" + field("CapEff")),
      bounding: BigInt("0x" + field("CapBnd")),
      noNewPrivs: field("NoNewPrivs"),
      seccomp: field("Seccomp"),
    }).toEqual({ dynamicUser: true, effective: capabilities, bounding: capabilities, noNewPrivs: "1", seccomp: "2" });
    // libbpf and libelf from memfds: the seccomp filter and the mount sandbox let them load.
    const maps = await system.run(["cat", `/proc/${mainPid}/maps`]);
    expect(maps).toContain("/memfd:libbpf.so.1");
    // The API listens (AF_INET is allowed).
    expect(await system.run(["ss", "-Hltn", "sport = :9990"])).toContain("127.0.0.1:9990");

    const before = pair.counters(a);
    const out = await receiveUdp(b, b.ipv4, 7320, 90);
    expect(await sendUdp(a, b.ipv4, 7320, 43020, 90, 500)).toBe(90);
    out.kill();
    await waitForFlowsToMatchCounters(pair, a, before, () => journal.flows);
    await system.run(["systemctl", "stop", "netflow-agent.service"]);
    expect(await system.run(["systemctl", "show", "--property=Result", "--value", "netflow-agent.service"])).toBe("success");

    const delta = counterDelta(before, pair.counters(a));
    const onVeth = journal.flows.filter((f) => f.interface === a.ifname);
    const udp = onVeth.filter((f) => f.direction === "egress" && f.srcPort === 43020 && f.dstPort === 7320);
    expect({ packets: sum(udp, (f) => f.packets), bytes: sum(udp, (f) => f.bytes) }).toEqual({ packets: 90, bytes: 90 * udpFrameBytes(500, false) });
    const egress = onVeth.filter((f) => f.direction === "egress");
    const ingress = onVeth.filter((f) => f.direction === "ingress");
    expect({ packets: sum(egress, (f) => f.packets), bytes: sum(egress, (f) => f.bytes) }).toEqual({ packets: delta.txPackets, bytes: delta.txBytes });
    expect({ packets: sum(ingress, (f) => f.packets), bytes: sum(ingress, (f) => f.bytes) }).toEqual({ packets: delta.rxPackets, bytes: delta.rxBytes });
    // Detached: no TCX program left on the device.
    expect((await $`ip netns exec ${a.ns} ${process.execPath} ${tcxCount} ${a.ifname}`.text()).trim()).toBe("0");
  } finally {
    rmSync(config, { recursive: true, force: true });
  }
}, 240_000);
