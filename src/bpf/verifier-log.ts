/**
 * Reading a failed load's log: which program the verifier refused, its own
 * last line, and a hint that fits the cause.
 *
 * libbpf prints the verifier's log framed by its own lines:
 *   libbpf: prog 'flow_ingress': BPF program load failed: Permission denied
 *   libbpf: prog 'flow_ingress': -- BEGIN PROG LOAD LOG --
 *   4: (1f) r4 -= r3                          instructions, `;` source lines
 *   R4 pointer -= pointer prohibited           the verifier's complaint
 *   processed 5 insns (limit 1000000) ...      its summary
 *   -- END PROG LOAD LOG --
 *   libbpf: prog 'flow_ingress': failed to load: -13
 * The line to quote is the complaint, not the framing or the summary.
 */
import { BpfError, errnoName } from "./errors.ts";

export interface VerifierVerdict {
  /** The program the verifier refused, from libbpf's framing. */
  program: string | undefined;
  /** The verifier's own last meaningful line; undefined when the log has none. */
  lastLine: string | undefined;
  /** The complaint: the lines after the last instruction, lastLine included. */
  complaint: string[];
  /** The log block as the verifier wrote it (without libbpf's lines). */
  lines: string[];
  /** libbpf's copy of the log ended before `-- END PROG LOAD LOG --`: the last line is missing. */
  cutShort: boolean;
}

const BEGIN = /^libbpf: prog '([^']+)': -- BEGIN PROG LOAD LOG --$/;
const END = "-- END PROG LOAD LOG --";
const FAILED = /^libbpf: prog '([^']+)': failed to load/;
/** The verifier's summary after the complaint (log levels 1 and 2). */
const SUMMARY = [/^processed \d+ insns/, /^verification time \d+/, /^stack depth [\d+]+/];
/** Instructions (`4: (1f) r4 -= r3`), states (`3: R1=0 …`), source (`; … @ flow.bpf.c:130`), branch heads. */
const TRACE = [/^\d+: /, /^; /, /^from \d+ to \d+:/, /^mark_precise: /, /^last_idx \d+/, /^frame\d+: /];

const isSummary = (line: string) => SUMMARY.some((re) => re.test(line));
const isTrace = (line: string) => TRACE.some((re) => re.test(line));

/**
 * Finds the last program's log block in libbpf's lines and the verifier's
 * last word in it. The block may have lost its head (only the last lines
 * printed are kept) or its tail (a copy cut short, cutShort).
 */
export function readVerifierLog(log: readonly string[]): VerifierVerdict | undefined {
  const endAt = log.lastIndexOf(END);
  let beginAt = -1;
  for (let i = log.length - 1; i >= 0 && beginAt < 0; i--) if (BEGIN.test(log[i]!)) beginAt = i;
  if (beginAt < 0 && endAt < 0) return undefined;
  const cutShort = beginAt > endAt;
  const program = beginAt >= 0 ? BEGIN.exec(log[beginAt]!)![1] : FAILED.exec(log[endAt + 1] ?? "")?.[1];
  // Without its BEGIN line, the block starts after libbpf's last line before END.
  let start = beginAt + 1;
  if (beginAt < 0) for (let i = endAt - 1; i >= 0 && start === 0; i--) if (log[i]!.startsWith("libbpf: ")) start = i + 1;
  const lines = log.slice(start, cutShort ? log.length : endAt).filter((l) => !l.startsWith("libbpf: "));
  if (cutShort) return { program, lastLine: undefined, complaint: [], lines, cutShort };

  let last = lines.length - 1;
  while (last >= 0 && (lines[last]!.trim() === "" || isSummary(lines[last]!))) last--;
  let first = last;
  while (first > 0 && !isTrace(lines[first - 1]!) && lines[first - 1]!.trim() !== "") first--;
  const complaint = last >= 0 && !isTrace(lines[last]!) ? lines.slice(first, last + 1) : [];
  return { program, lastLine: complaint.at(-1), complaint, lines, cutShort };
}

/** Why, and what to do, for the verifier's complaint. */
export function hintForVerifier(complaint: readonly string[]): string {
  const text = complaint.join("\n");
  // Rules the verifier relaxes only for CAP_PERFMON (allow_ptr_leaks, bypass_spec_v1). Type rules
  // such as "pointer arithmetic on pkt_end prohibited" hold for root too and are not matched.
  if (/pointer (comparison|arithmetic) prohibited|pointer -= pointer prohibited|prohibited for !root|leaks addr|partial copy of pointer/.test(text))
    return (
      "the verifier allows that only with CAP_PERFMON (or root); this program is meant to load with CAP_BPF and CAP_NET_ADMIN " +
      "alone, so this build of bpf/ is at fault: report it, and meanwhile grant CAP_PERFMON too or run as root"
    );
  if (/cannot use helper|unknown func/.test(text))
    return "a helper the program calls is missing for TC programs here: this kernel is too old for it, or it needs a capability this process lacks (CAP_PERFMON gates some)";
  if (/\bBTF\b|btf_id/i.test(text)) return BTF_REFUSED;
  if (/program is too large|too many states|combined stack size|loop is not bounded|back-edge|jump out of range/.test(text))
    return "the program exceeds this kernel verifier's limits: report it with the kernel version (netflow-agent version)";
  return "this build of bpf/ does not verify on this kernel: rebuild it (bun build.ts --bpf-only) and report it with the log from --log-level debug";
}

const BTF_MISSING = "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
const BTF_MISSING_HINT =
  "this build of bpf/ asks for kernel BTF (CO-RE relocations), which the flow programs are written not to need: rebuild bpf/ (bun build.ts --bpf-only), or use a kernel built with CONFIG_DEBUG_INFO_BTF=y";
const BTF_REFUSED = "the kernel refused the object's BTF: rebuild bpf/ (bun build.ts --bpf-only) with the clang named in bpf/clang-version.txt";

/**
 * A load failure (a BpfError from bpf_object__load) explained with the
 * libbpf log printed during the load: the program refused and the verifier's
 * last line in the message, a hint that fits, the log itself in `details`
 * (shown under --log-level debug). Anything else is returned as it came.
 */
export function explainLoadFailure(error: unknown, log: readonly string[]): unknown {
  if (!(error instanceof BpfError)) return error;
  const errno = error.errno;
  const name = errno === undefined ? "failed" : errnoName(errno);
  const again = (why: string, hint: string | undefined, details: readonly string[]) =>
    new BpfError(error.doing, why, hint, { cause: error, errno, details: details.slice(-40) });

  // EPERM: no verifier log to read; the hint (errors.ts) names what is needed.
  if (errno === 1) return again(error.why, error.hint, log);
  if (log.some((l) => l.startsWith("libbpf: ") && /vmlinux BTF|kernel BTF/i.test(l))) return again(BTF_MISSING, BTF_MISSING_HINT, log);

  const verdict = readVerifierLog(log);
  if (!verdict) return again(error.why, error.hint, log);
  const program = verdict.program ? `program ${verdict.program}` : "the program";
  if (verdict.cutShort)
    return again(
      `the verifier rejected ${program} (${name}); libbpf's copy of its log was cut short before the last line`,
      "as root, `bpftool prog loadall bpf/flow.bpf.o /sys/fs/bpf/netflow-check` prints the whole log: report it",
      verdict.lines,
    );
  if (!verdict.lastLine) return again(`the verifier rejected ${program} (${name})`, hintForVerifier(verdict.lines.slice(-5)), verdict.lines);
  return again(`the verifier rejected ${program} (${name}): "${verdict.lastLine}"`, hintForVerifier(verdict.complaint), verdict.lines);
}
