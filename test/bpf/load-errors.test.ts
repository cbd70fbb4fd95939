/** What a user sees when the kernel refuses the object: what failed, why, and the verifier's last word. */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clangVersion, compileBpf } from "../../build.ts";
import { BpfError } from "../../src/bpf/errors.ts";
import { FlowObject } from "../../src/bpf/flow-object.ts";
import { isRoot } from "../helpers/netns.ts";

const clang = await clangVersion();

test.if(isRoot && clang !== undefined)("a verifier rejection names the object, the errno and the log's last line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netflow-bad-"));
  try {
    const out = join(dir, "flow.bpf.o");
    await compileBpf("flow", out, ["NETFLOW_TEST_VERIFIER_REJECTS"]);
    const error = await FlowObject.load({ initialFlows: 64, objectBytes: new Uint8Array(readFileSync(out)) }).catch((e) => e);
    expect(error).toBeInstanceOf(BpfError);
    expect(error.message).toStartWith("loading BPF object netflow (bpf/flow.bpf.o): EACCES (permission denied (the verifier rejected the program))");
    expect(error.message).toContain("verifier log ends:");
    expect(error.details.join("\n")).toContain("invalid access to packet");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.if(isRoot)("an object whose maps do not match the TypeScript layout is refused before load", async () => {
  const bytes = new Uint8Array(readFileSync(join(import.meta.dir, "..", "..", "bpf", "floor.bpf.o")));
  const error = await FlowObject.load({ initialFlows: 64, objectBytes: bytes }).catch((e) => e);
  expect(error.message).toBe("opening map flows: not found in the object — rebuild bpf/ and src/ together (bun build.ts)");
});
