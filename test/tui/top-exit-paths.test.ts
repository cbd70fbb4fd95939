/**
 * Every way out of the view gives the terminal back (main screen, cursor,
 * line wrap) and leaves nothing attached: Ctrl-C, SIGTERM, and a crash.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { cliPath } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { TmuxScreen } from "./tmux-screen.ts";

const shellBack = (s: string) => /^top-exit=\d+$/m.test(s);
const viewModes = { alternate: true, cursor: false, wrap: false };
const shellModes = { alternate: false, cursor: true, wrap: true };

async function startTop(screen: TmuxScreen, ns: string) {
  screen.run(`clear; ip netns exec ${ns} ${process.execPath} ${cliPath} top --interval 1s; echo top-exit=$?`);
  await screen.waitFor("the header", (s) => s.includes("netflow-agent top ·") && s.includes("veth-a"));
  expect(screen.modes()).toEqual(viewModes);
}

/** The pid of the top process in the namespace (bun, not the `ip netns exec` wrapper, which execs into it). */
function topPid(ns: string): number {
  const pids = Bun.spawnSync(["ip", "netns", "pids", ns]).stdout.toString().split("\n").filter(Boolean).map(Number);
  expect(pids.length).toBe(1);
  return pids[0]!;
}

kernelTest("Ctrl-C and SIGTERM quit like q: terminal restored, exit 0, no process left in the namespace", async () => {
  await using pair = await VethPair.create();
  using screen = TmuxScreen.open(120, 30);

  await startTop(screen, pair.a.ns);
  screen.keys("C-c");
  let s = await screen.waitFor("the shell after Ctrl-C", shellBack);
  expect(s).toMatch(/^top-exit=0$/m);
  expect(screen.modes()).toEqual(shellModes);

  await startTop(screen, pair.a.ns);
  process.kill(topPid(pair.a.ns), "SIGTERM");
  s = await screen.waitFor("the shell after SIGTERM", shellBack);
  expect(s).toMatch(/^top-exit=0$/m);
  expect(s).not.toContain("netflow-agent top ·");
  expect(screen.modes()).toEqual(shellModes);
  expect(Bun.spawnSync(["ip", "netns", "pids", pair.a.ns]).stdout.toString()).toBe("");
}, 120_000);

// The error itself is printed before the exit hook runs, on the alternate screen, so it is not
// asserted here; top-command's uncaughtException handler gives the terminal back before printing.
test("a crash with the terminal taken still restores it on the way out", async () => {
  using screen = TmuxScreen.open(80, 10);
  screen.run(`clear; ${process.execPath} ${join(import.meta.dir, "fixtures", "crash-in-terminal.ts")}; echo top-exit=$?`);
  const s = await screen.waitFor("the shell after the crash", shellBack);
  expect(s).toMatch(/^top-exit=1$/m);
  expect(s).not.toContain("frame before the crash");
  expect(screen.modes()).toEqual(shellModes);
}, 30_000);
