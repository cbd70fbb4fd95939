/**
 * The privilege pre-check: the capability sets that may load and attach, the
 * exact line for those that may not, and the check as a real process with
 * ambient capabilities sees it.
 */
import { $ } from "bun";
import { expect, test } from "bun:test";
import { join } from "node:path";
import { CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, effectiveCapabilities, missingPrivilege } from "../../src/agent/privileges.ts";
import { NEEDED_PRIVILEGES, privilegeHint } from "../../src/bpf/errors.ts";
import { isRoot } from "../helpers/netns.ts";

const bit = (cap: bigint) => 1n << cap;
const lacks = (what: string) =>
  `loading BPF programs needs root, or CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN instead of CAP_BPF on kernels before 5.8; CAP_PERFMON is not needed); this process lacks ${what} — run it with sudo, or grant those capabilities`;

test("the text every place says", () => {
  expect(NEEDED_PRIVILEGES).toBe("root, or CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN instead of CAP_BPF on kernels before 5.8; CAP_PERFMON is not needed)");
});

test("CapEff is read from /proc/<pid>/status as the kernel writes it", () => {
  // Lines of a real status file: a process run with setpriv --ambient-caps=+bpf,+net_admin.
  const status = "Name:\tbun\nCapInh:\t0000008000001000\nCapPrm:\t0000008000001000\nCapEff:\t0000008000001000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000008000001000\n";
  expect(effectiveCapabilities(status)).toBe(bit(CAP_BPF) | bit(CAP_NET_ADMIN));
  expect(effectiveCapabilities("Name:\tbun\n")).toBe(0n);
});

test("allowed: root's full set, CAP_BPF + CAP_NET_ADMIN (no CAP_PERFMON), CAP_SYS_ADMIN + CAP_NET_ADMIN", () => {
  expect(missingPrivilege(0x1ffffffffffn)).toBeUndefined();
  expect(missingPrivilege(bit(CAP_BPF) | bit(CAP_NET_ADMIN))).toBeUndefined();
  expect(missingPrivilege(bit(CAP_SYS_ADMIN) | bit(CAP_NET_ADMIN))).toBeUndefined();
});

test("refused: the line names what is missing", () => {
  expect(missingPrivilege(0n)).toBe(lacks("CAP_BPF and CAP_NET_ADMIN"));
  expect(missingPrivilege(bit(CAP_BPF))).toBe(lacks("CAP_NET_ADMIN"));
  expect(missingPrivilege(bit(CAP_NET_ADMIN))).toBe(lacks("CAP_BPF"));
  // CAP_PERFMON (38) does not stand in for CAP_BPF.
  expect(missingPrivilege(bit(38n) | bit(CAP_NET_ADMIN))).toBe(lacks("CAP_BPF"));
});

const check = join(import.meta.dir, "..", "..", "src", "agent", "privileges.ts");
const script = `const { missingPrivilege } = await import(${JSON.stringify(check)}); console.log(missingPrivilege() ?? "allowed");`;

test.if(isRoot)("as uid 65534 with ambient CAP_BPF + CAP_NET_ADMIN the check passes; with none it names both", async () => {
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
