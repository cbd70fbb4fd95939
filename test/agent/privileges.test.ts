/**
 * The privilege pre-check: the capability sets that may load and attach, the
 * exact line for those that may not, and the check as a real process with
 * ambient capabilities sees it. One privilege text: the pre-checks of run and
 * top, the EPERM error, `run --help` and the README all say NEEDED_PRIVILEGES.
 */
import { $ } from "bun";
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, effectiveCapabilities, privilegeRefusal } from "../../src/agent/privileges.ts";
import { BpfError, NEEDED_PRIVILEGES, privilegeHint } from "../../src/bpf/errors.ts";
import { cliPath, repoRoot } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";

const bit = (cap: bigint) => 1n << cap;
const KERNEL = "6.18.44-fc-v782";
const lacks = (what: string) =>
  `loading BPF programs: this process lacks ${what} — needs root, or CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN instead of CAP_BPF on kernels before 5.8; CAP_PERFMON is not needed): run it with sudo, or grant those capabilities`;
const refusal = (caps: bigint) => privilegeRefusal(caps, undefined, KERNEL)?.message;
/** Text as a reader sees it: line breaks and indentation are only layout. */
const flat = (text: string) => text.replace(/\s+/g, " ");

test("the text every place says", async () => {
  expect(NEEDED_PRIVILEGES).toBe("root, or CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN instead of CAP_BPF on kernels before 5.8; CAP_PERFMON is not needed)");
  const hint = privilegeHint(KERNEL);
  expect(hint).toBe(`needs ${NEEDED_PRIVILEGES}: run it with sudo, or grant those capabilities`);
  // The pre-checks and EPERM end with the same hint.
  expect(privilegeRefusal(0n, undefined, KERNEL)!.hint).toBe(hint);
  expect(privilegeRefusal(0n, "watch a running agent without privileges: top --connect host:port", KERNEL)!.hint).toBe(
    `${hint}, or watch a running agent without privileges: top --connect host:port`,
  );
  expect(BpfError.fromErrno("loading the flow programs", 1).hint).toBe(privilegeHint());
  // The README and `run --help` quote it.
  expect(flat(readFileSync(join(repoRoot, "README.md"), "utf8"))).toContain(
    `\`run\` and standalone \`top\` need ${NEEDED_PRIVILEGES}: run them with sudo, or grant those capabilities.`,
  );
  const help = await $`${process.execPath} ${cliPath} run --help`.env({ ...process.env, COLUMNS: "200" }).text();
  expect(flat(help)).toContain(`Needs ${NEEDED_PRIVILEGES}.`);
});

test("CapEff is read from /proc/<pid>/status as the kernel writes it", () => {
  // Lines of a real status file: a process run with setpriv --ambient-caps=+bpf,+net_admin.
  const status = "Name:\tbun\nCapInh:\t0000008000001000\nCapPrm:\t0000008000001000\nCapEff:\t0000008000001000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000008000001000\n";
  expect(effectiveCapabilities(status)).toBe(bit(CAP_BPF) | bit(CAP_NET_ADMIN));
  expect(effectiveCapabilities("Name:\tbun\n")).toBe(0n);
});

test("allowed: root's full set, CAP_BPF + CAP_NET_ADMIN (no CAP_PERFMON), CAP_SYS_ADMIN + CAP_NET_ADMIN", () => {
  expect(refusal(0x1ffffffffffn)).toBeUndefined();
  expect(refusal(bit(CAP_BPF) | bit(CAP_NET_ADMIN))).toBeUndefined();
  expect(refusal(bit(CAP_SYS_ADMIN) | bit(CAP_NET_ADMIN))).toBeUndefined();
});

test("refused: the line names what is missing", () => {
  expect(refusal(0n)).toBe(lacks("CAP_BPF and CAP_NET_ADMIN"));
  expect(refusal(bit(CAP_BPF))).toBe(lacks("CAP_NET_ADMIN"));
  expect(refusal(bit(CAP_NET_ADMIN))).toBe(lacks("CAP_BPF"));
  // CAP_PERFMON (38) does not stand in for CAP_BPF.
  expect(refusal(bit(38n) | bit(CAP_NET_ADMIN))).toBe(lacks("CAP_BPF"));
});

const check = join(import.meta.dir, "..", "..", "src", "agent", "privileges.ts");
const script = `const { privilegeRefusal } = await import(${JSON.stringify(check)}); console.log(privilegeRefusal(undefined, undefined, ${JSON.stringify(KERNEL)})?.message ?? "allowed");`;

kernelTest("as uid 65534 with ambient CAP_BPF + CAP_NET_ADMIN the check passes; with none it names both", async () => {
  const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
  const granted = await $`${asNobody} --inh-caps=+bpf,+net_admin --ambient-caps=+bpf,+net_admin ${process.execPath} -e ${script}`.text();
  expect(granted.trim()).toBe("allowed");
  const none = await $`${asNobody} --inh-caps=-all ${process.execPath} -e ${script}`.text();
  expect(none.trim()).toBe(lacks("CAP_BPF and CAP_NET_ADMIN"));
});

test("the EPERM hint: the same text, and RLIMIT_MEMLOCK only where the kernel charges it (before 5.11)", () => {
  const base = `needs ${NEEDED_PRIVILEGES}: run it with sudo, or grant those capabilities`;
  expect(privilegeHint("6.18.44-fc-v782")).toBe(base);
  expect(privilegeHint("5.11.0-49-generic")).toBe(base);
  expect(privilegeHint("5.10.0-28-amd64")).toBe(
    `${base}; kernel 5.10.0-28-amd64 also counts BPF memory against RLIMIT_MEMLOCK: raise it (ulimit -l unlimited, LimitMEMLOCK=infinity)`,
  );
});
