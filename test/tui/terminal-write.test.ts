/**
 * The terminal's writes when its reader falls behind, in a real pty (tmux)
 * made non-blocking by another process sharing the tty's file description: a
 * frame larger than the pty holds waits for the reader without burning a
 * CPU, then is written, and the terminal is restored.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../helpers/wait-for.ts";
import { TmuxScreen } from "./tmux-screen.ts";

const fixture = join(import.meta.dir, "fixtures", "terminal-stall.ts");

/** CPU time the process used so far, in clock ticks (utime + stime, fields 14 and 15 of /proc/<pid>/stat). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

test("a stalled non-blocking tty: the frame waits without spinning, then is written and the terminal restored", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rough-tty-"));
  try {
    using screen = TmuxScreen.open(100, 30);
    screen.run(`${process.execPath} ${fixture} ${dir}; echo view-exit=$?`);
    const ready = await waitFor("the view to take the terminal", () => existsSync(join(dir, "ready")) && JSON.parse(readFileSync(join(dir, "ready"), "utf8")));
    expect(ready.nonBlocking).toBe(true);
    {
      using _stopped = screen.stopReading();
      process.kill(ready.pid, "SIGUSR1");
      // The 600 KB frame fills the pty at once; the writer then waits for a reader that is not there.
      await Bun.sleep(300);
      const before = cpuTicks(ready.pid);
      await Bun.sleep(1000);
      const used = cpuTicks(ready.pid) - before;
      expect(existsSync(join(dir, "done"))).toBe(false);
      // Ticks are 10 ms: a writer retrying EAGAIN at once uses the whole second (~100).
      expect(used).toBeLessThan(15);
    }
    await waitFor("the frame to be written and the terminal restored", () => existsSync(join(dir, "done")));
    const screenText = await screen.waitFor("the view's exit", (text) => text.includes("view-exit=0"));
    expect(screenText).toContain("view-exit=0");
    expect(screen.modes()).toEqual({ alternate: false, cursor: true, wrap: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60000);
