/**
 * The shipped form: one executable from `bun build --compile`, the BPF object
 * embedded in it. It loads, attaches and detaches with no repository around.
 */
import { $ } from "bun";
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot, VethPair } from "../helpers/netns.ts";

const root = join(import.meta.dir, "..", "..");

test.if(isRoot)("dist executable: version, then run in a namespace, flows printed, clean exit", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netflow-dist-"));
  try {
    const exe = join(dir, "netflow-agent");
    await $`bun build --compile src/cli/main.ts --outfile ${exe}`.cwd(root).quiet();
    // Run from an empty directory: nothing may be read from the repository.
    const version = await $`${exe} version`.cwd(dir).text();
    expect(version).toStartWith("netflow-agent ");
    await using pair = await VethPair.create();
    const proc = Bun.spawn(["ip", "netns", "exec", pair.a.ns, exe, "run", "--interfaces", "lo", "--cache-active-timeout", "500ms"], {
      cwd: dir,
      stdout: "pipe",
      stderr: "pipe",
    });
    await Bun.sleep(1000);
    await $`ip netns exec ${pair.a.ns} ${process.execPath} -e ${'require("node:dgram").createSocket("udp4").send("x", 9, "127.0.0.1", () => process.exit(0))'}`.quiet().nothrow();
    await Bun.sleep(1200);
    proc.kill("SIGTERM");
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(0);
    expect(err).toContain("attached to lo (tcx");
    const flows = out.trim().split("\n").map((l) => JSON.parse(l));
    expect(flows.some((f) => f.interface === "lo" && f.protocol === "UDP" && f.dstPort === 9 && f.packets === 1)).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60000);
