/** What a user sees when the kernel refuses the object: what failed, why, and the verifier's last word. */
import { $ } from "bun";
import { expect } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clangVersion, compileBpf } from "../../build.ts";
import { BpfError } from "../../src/bpf/errors.ts";
import { FlowObject } from "../../src/bpf/flow-object.ts";
import { kernelTest, testNeeding } from "../helpers/kernel-test.ts";
import { isRoot } from "../helpers/netns.ts";

const clang = await clangVersion();
const src = join(import.meta.dir, "..", "..", "src", "bpf");
/** Compiles a variant of the object, then loads it. */
const compileAndLoadTest = testNeeding({ root: isRoot, clang: clang !== undefined });

compileAndLoadTest("a verifier rejection names the object, the program, the errno and the verifier's last line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netflow-bad-"));
  try {
    const out = join(dir, "flow.bpf.o");
    await compileBpf("flow", out, ["NETFLOW_TEST_VERIFIER_REJECTS"]);
    const error = await FlowObject.load({ initialFlows: 64, objectBytes: new Uint8Array(readFileSync(out)) }).catch((e) => e);
    expect(error).toBeInstanceOf(BpfError);
    // The register the compiler picked for skb->data is its business; the rest is exact.
    expect(error.message).toMatch(
      /^loading BPF object netflow \(bpf\/flow\.bpf\.o\): the verifier rejected program flow_ingress \(EACCES\): "R\d offset is outside of the packet" — this build of bpf\/ does not verify on this kernel: rebuild it \(bun build\.ts --bpf-only\) and report it with the log from --log-level debug$/,
    );
    expect(error.details.join("\n")).toMatch(/invalid access to packet, off=0 size=1, R\d\(id=0,off=0,r=0\)/);
    expect(error.details.join("\n")).not.toContain("libbpf:");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000); // clang alone takes 2-5 s on a busy 2-core VM

/** A pointer comparison only CAP_PERFMON may make: a map value pointer against a packet pointer. */
const PERFMON_ONLY_C = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } m SEC(".maps");
SEC("tc")
int compare(struct __sk_buff *skb)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&m, &k);
	if (!v) return 0;
	asm volatile("if %[a] > %[b] goto +0" :: [a]"r"(v), [b]"r"((void *)(long)skb->data));
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

compileAndLoadTest("as uid 65534 with CAP_BPF + CAP_NET_ADMIN, a CAP_PERFMON-only comparison is named as such", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netflow-perfmon-"));
  try {
    chmodSync(dir, 0o755); // the loader below runs as uid 65534
    writeFileSync(join(dir, "compare.bpf.c"), PERFMON_ONLY_C);
    const arch = (await $`uname -m`.text()).trim();
    await $`clang -O2 -g -target bpf -I/usr/include/${arch}-linux-gnu -c compare.bpf.c -o compare.bpf.o`.cwd(dir).quiet();
    const loader = `
      import { readFileSync } from "node:fs";
      import { libbpfLogMark, libbpfLogSince, loadObject, openObjectFromMemory } from ${JSON.stringify(join(src, "libbpf.ts"))};
      import { explainLoadFailure } from ${JSON.stringify(join(src, "verifier-log.ts"))};
      const bytes = new Uint8Array(readFileSync("compare.bpf.o"));
      const object = openObjectFromMemory(bytes, "compare");
      const mark = libbpfLogMark();
      try { loadObject(object, "compare"); console.log("loaded"); }
      catch (error) { console.log(explainLoadFailure(error, libbpfLogSince(mark)).message); }`;
    writeFileSync(join(dir, "load.ts"), loader);
    chmodSync(join(dir, "compare.bpf.o"), 0o644);
    chmodSync(join(dir, "load.ts"), 0o644);
    const result = await $`setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+bpf,+net_admin --ambient-caps=+bpf,+net_admin ${process.execPath} load.ts`
      .cwd(dir)
      .nothrow()
      .quiet();
    expect(result.stderr.toString()).toBe("");
    expect(result.stdout.toString().trim()).toBe(
      'loading BPF object compare: the verifier rejected program compare (EACCES): "R1 pointer comparison prohibited" — ' +
        "the verifier allows that only with CAP_PERFMON (or root); this program is meant to load with CAP_BPF and CAP_NET_ADMIN alone, " +
        "so this build of bpf/ is at fault: report it, and meanwhile grant CAP_PERFMON too or run as root",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

kernelTest("an object whose maps do not match the TypeScript layout is refused before load", async () => {
  const bytes = new Uint8Array(readFileSync(join(import.meta.dir, "..", "..", "bpf", "floor.bpf.o")));
  const error = await FlowObject.load({ initialFlows: 64, objectBytes: bytes }).catch((e) => e);
  expect(error.message).toBe("opening map flows: not found in the object — rebuild bpf/ and src/ together (bun build.ts)");
});
