/**
 * explainLoadFailure on real logs (verifier-log-samples.ts): the verifier's
 * own last line is quoted, never libbpf's framing or the summary, and the
 * hint follows the cause.
 */
import { expect, test } from "bun:test";
import { BpfError } from "../../src/bpf/errors.ts";
import { explainLoadFailure, readVerifierLog } from "../../src/bpf/verifier-log.ts";
import * as samples from "./verifier-log-samples.ts";

const DOING = "loading BPF object netflow (bpf/flow.bpf.o)";
const explain = (sample: { errno: number; log: string[] }) => explainLoadFailure(BpfError.fromErrno(DOING, sample.errno), sample.log) as BpfError;

const PERFMON_HINT =
  "the verifier allows that only with CAP_PERFMON (or root); this program is meant to load with CAP_BPF and CAP_NET_ADMIN alone, " +
  "so this build of bpf/ is at fault: report it, and meanwhile grant CAP_PERFMON too or run as root";
const BUILD_HINT = "this build of bpf/ does not verify on this kernel: rebuild it (bun build.ts --bpf-only) and report it with the log from --log-level debug";

test("pointer subtraction without CAP_PERFMON: the complaint quoted, CAP_PERFMON named", () => {
  expect(readVerifierLog(samples.pointerSubtraction.log)).toMatchObject({
    program: "flow_ingress",
    lastLine: "R4 pointer -= pointer prohibited",
    complaint: ["R4 pointer -= pointer prohibited"],
    cutShort: false,
  });
  const error = explain(samples.pointerSubtraction);
  expect(error.message).toBe(`${DOING}: the verifier rejected program flow_ingress (EACCES): "R4 pointer -= pointer prohibited" — ${PERFMON_HINT}`);
  expect(error.errno).toBe(13);
  // The log as the verifier wrote it, for --log-level debug: no libbpf lines, the END marker excluded.
  expect(error.details[0]).toBe("0: R1=ctx() R10=fp0");
  expect(error.details.at(-1)).toBe("processed 5 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0");
  expect(error.cause).toBeInstanceOf(BpfError);
});

test("pointer comparison without CAP_PERFMON, at log levels 1 and 2", () => {
  for (const sample of [samples.pointerComparison, samples.pointerComparisonLevel2]) {
    const error = explain(sample);
    expect(error.message).toBe(`${DOING}: the verifier rejected program cmp (EACCES): "R1 pointer comparison prohibited" — ${PERFMON_HINT}`);
  }
});

test("an unchecked packet read: the last of two complaint lines quoted, a build hint (no privilege talk)", () => {
  expect(readVerifierLog(samples.packetAccess.log)?.complaint).toEqual([
    "invalid access to packet, off=0 size=1, R3(id=0,off=0,r=0)",
    "R3 offset is outside of the packet",
  ]);
  const error = explain(samples.packetAccess);
  expect(error.message).toBe(`${DOING}: the verifier rejected program flow_ingress (EACCES): "R3 offset is outside of the packet" — ${BUILD_HINT}`);
  expect(error.details).toContain("invalid access to packet, off=0 size=1, R3(id=0,off=0,r=0)");
});

test("a helper refused for lack of CAP_PERFMON (EINVAL): the helper hint", () => {
  const error = explain(samples.perfmonHelper);
  expect(error.message).toBe(
    `${DOING}: the verifier rejected program helper (EINVAL): "program of this type cannot use helper bpf_trace_printk#6" — ` +
      "a helper the program calls is missing for TC programs here: this kernel is too old for it, or it needs a capability this process lacks (CAP_PERFMON gates some)",
  );
});

test("no kernel BTF: said as such, before any verifier talk", () => {
  const error = explain(samples.noKernelBtf);
  expect(error.message).toBe(
    `${DOING}: the kernel has no BTF (/sys/kernel/btf/vmlinux) — this build of bpf/ asks for kernel BTF (CO-RE relocations), which the flow programs ` +
      "are written not to need: rebuild bpf/ (bun build.ts --bpf-only), or use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
  );
  expect(error.errno).toBe(3);
  expect(error.details).toEqual(samples.noKernelBtf.log);
});

test("EPERM: the privilege text, libbpf's own lines kept as details", () => {
  const error = explain(samples.noPrivilege);
  expect(error.message).toBe(
    `${DOING}: EPERM (operation not permitted) — needs root, or CAP_BPF and CAP_NET_ADMIN ` +
      "(CAP_SYS_ADMIN instead of CAP_BPF on kernels before 5.8; CAP_PERFMON is not needed): run it with sudo, or grant those capabilities",
  );
  expect(error.details).toEqual(samples.noPrivilege.log);
});

test("a log cut short before its END marker: no instruction passed off as the last line", () => {
  const verdict = readVerifierLog(samples.cutShort.log);
  expect(verdict).toMatchObject({ program: "long_reject", lastLine: undefined, cutShort: true });
  const error = explain(samples.cutShort);
  expect(error.message).toBe(
    `${DOING}: the verifier rejected program long_reject (EACCES); libbpf's copy of its log was cut short before the last line — ` +
      "as root, `bpftool prog loadall bpf/flow.bpf.o /sys/fs/bpf/netflow-check` prints the whole log: report it",
  );
});

test("a log whose head was dropped (only the last 400 lines are kept): the program named from libbpf's line after it", () => {
  expect(readVerifierLog(samples.headless.log)).toMatchObject({ program: "long_reject", lastLine: "R1 offset is outside of the packet", cutShort: false });
  expect(explain(samples.headless).message).toBe(`${DOING}: the verifier rejected program long_reject (EACCES): "R1 offset is outside of the packet" — ${BUILD_HINT}`);
});

test("the last program's block is read when libbpf logged several; a log with none keeps the error's own text", () => {
  const two = [...samples.pointerComparison.log.slice(0, -1), ...samples.pointerSubtraction.log];
  expect(readVerifierLog(two)).toMatchObject({ program: "flow_ingress", lastLine: "R4 pointer -= pointer prohibited" });
  const plain = BpfError.fromErrno(DOING, 22);
  expect(readVerifierLog(["libbpf: failed to load object 'netflow'"])).toBeUndefined();
  expect((explainLoadFailure(plain, ["libbpf: failed to load object 'netflow'"]) as BpfError).message).toBe(`${DOING}: EINVAL (invalid argument)`);
  const notOurs = new Error("something else");
  expect(explainLoadFailure(notOurs, samples.pointerSubtraction.log)).toBe(notOurs);
});
