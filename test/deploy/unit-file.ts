/**
 * deploy/systemd/netflow-agent.service read the way systemd reads it (the
 * subset the unit uses: sections, `Key=value`, repeated keys accumulate, `#`
 * comments), and turned into the setpriv(1) command that gives a process the
 * same user, capabilities and no_new_privs, so the tests run the agent as the
 * unit would without a second copy of the capability list.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/agent-process.ts";

export const unitPath = join(repoRoot, "deploy", "systemd", "netflow-agent.service");
export const envFilePath = join(repoRoot, "deploy", "systemd", "netflow-agent.env");

/** Section → key → every value the key was given, in order. */
export type UnitFile = Map<string, Map<string, string[]>>;

export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq < 0) throw new Error(`unit line not understood: ${raw}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

export function readUnit(path = unitPath): UnitFile {
  return parseUnit(readFileSync(path, "utf8"));
}

/** The last value of [Service] `key`, as systemd takes a single-valued setting. */
export function serviceValue(unit: UnitFile, key: string): string | undefined {
  return unit.get("Service")?.get(key)?.at(-1);
}

/**
 * A capability list setting ("CAP_BPF CAP_NET_ADMIN", possibly over several
 * lines) as capability names without the prefix, lower case: ["bpf", "net_admin"].
 * An empty assignment resets the list, as in systemd.
 */
export function capabilityList(unit: UnitFile, key: string): string[] {
  let caps: string[] = [];
  for (const value of unit.get("Service")?.get(key) ?? []) {
    if (value === "") caps = [];
    else for (const word of value.split(/\s+/)) caps.push(word.replace(/^CAP_/, "").toLowerCase());
  }
  return [...new Set(caps)];
}

/** include/uapi/linux/capability.h numbers of the capabilities a unit may name here. */
const CAPABILITY_NUMBERS: Record<string, bigint> = {
  net_admin: 12n,
  sys_ptrace: 19n,
  sys_admin: 21n,
  sys_resource: 24n,
  perfmon: 38n,
  bpf: 39n,
};

/** The capability mask (as /proc/<pid>/status prints it, parsed) of `names`. */
export function capabilityMask(names: string[]): bigint {
  return names.reduce((mask, name) => {
    const bit = CAPABILITY_NUMBERS[name];
    if (bit === undefined) throw new Error(`capability ${name}: add its number to CAPABILITY_NUMBERS`);
    return mask | (1n << bit);
  }, 0n);
}

/** uid and gid nobody: what the tests run a DynamicUser= service as. */
export const NOBODY = 65534;

/**
 * setpriv arguments that put a process where systemd puts the unit's
 * ExecStart: its user (DynamicUser=yes or User=: here nobody), no
 * supplementary groups, the bounding set, the ambient (and so inheritable)
 * capabilities, and no_new_privs when NoNewPrivileges=yes.
 */
export function setprivArgs(unit: UnitFile): string[] {
  const dynamic = serviceValue(unit, "DynamicUser") === "yes";
  const user = serviceValue(unit, "User");
  if (!dynamic && user === undefined) throw new Error("the unit runs as root (neither DynamicUser= nor User=): nothing to emulate");
  const ambient = capabilityList(unit, "AmbientCapabilities");
  const bounding = capabilityList(unit, "CapabilityBoundingSet");
  const list = (caps: string[]) => ["-all", ...caps.map((c) => `+${c}`)].join(",");
  return [
    "setpriv",
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    "--clear-groups",
    `--bounding-set=${list(bounding)}`,
    `--inh-caps=${list(ambient)}`,
    `--ambient-caps=${list(ambient)}`,
    ...(serviceValue(unit, "NoNewPrivileges") === "yes" ? ["--no-new-privs"] : []),
  ];
}

/** Whether this process holds capability `name` ("sys_resource") in its effective set. */
export function holdsCapability(name: string): boolean {
  const eff = /^CapEff:\t([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0";
  return (BigInt("0x" + eff) & capabilityMask([name])) !== 0n;
}

/**
 * The unit's LimitMEMLOCK= as a prlimit(1) prefix (systemd sets it before the
 * exec). systemd clamps a limit it may not raise to the hard limit it has
 * (setrlimit_closest); raising needs CAP_SYS_RESOURCE, so without it this is
 * empty and the process keeps the current limit, as under systemd.
 */
export function limitArgs(unit: UnitFile): string[] {
  const memlock = serviceValue(unit, "LimitMEMLOCK");
  if (memlock === undefined || !holdsCapability("sys_resource")) return [];
  const value = memlock === "infinity" ? "unlimited" : memlock;
  return ["prlimit", `--memlock=${value}:${value}`, "--"];
}

/**
 * The NETFLOW_* settings `run --help` lists (its "(env: NETFLOW_X)"), each
 * with its default when that is one word ("(default: auto, env: …)").
 */
export function helpSettings(help: string): Map<string, string | undefined> {
  const text = help.replace(/\s+/g, " ");
  const settings = new Map<string, string | undefined>();
  for (const m of text.matchAll(/env: (NETFLOW_[A-Z0-9_]+)\)/g)) settings.set(m[1]!, undefined);
  for (const m of text.matchAll(/\(default: ([^\s,()]+)(?:, |\) \()env: (NETFLOW_[A-Z0-9_]+)\)/g)) settings.set(m[2]!, m[1]!);
  return settings;
}

/** The settings the env file shows, commented out ("#NETFLOW_X=value"): name → value. */
export function envFileSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const m of text.matchAll(/^#(NETFLOW_[A-Z0-9_]+)=(.*)$/gm)) settings.set(m[1]!, m[2]!);
  return settings;
}
