/**
 * A real terminal for the view's tests: a shell in a detached tmux session on
 * a private server socket (so the test's environment, NO_COLOR included, is
 * the server's), with keys sent and the screen read back as text. Disposing
 * kills that server and everything running in it.
 */
import { rmSync } from "node:fs";
import { DEADLINE_MS } from "../helpers/wait-for.ts";

export class TmuxScreen implements Disposable {
  private socketPath = "";

  private constructor(private readonly socket: string) {}

  static open(columns = 160, rows = 40): TmuxScreen {
    const screen = new TmuxScreen(`nf-top-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    screen.tmux(["new-session", "-d", "-s", "top", "-x", String(columns), "-y", String(rows), "env PS1='$ ' bash --norc --noprofile"]);
    screen.socketPath = screen.tmux(["display-message", "-p", "#{socket_path}"]).trim();
    return screen;
  }

  /** Types `line` into the shell and presses Enter. */
  run(line: string) {
    this.tmux(["send-keys", "-t", "top", "-l", line]);
    this.tmux(["send-keys", "-t", "top", "Enter"]);
  }

  /** tmux key names ("Down", "Escape", "Space") or literal text with `literal`. */
  keys(keys: string, literal = false) {
    this.tmux(["send-keys", "-t", "top", ...(literal ? ["-l"] : []), keys]);
  }

  /** Whether the pane is on the alternate screen, shows the cursor, and wraps lines. */
  modes(): { alternate: boolean; cursor: boolean; wrap: boolean } {
    const [alternate, cursor, wrap] = this.tmux(["display-message", "-p", "-t", "top", "#{alternate_on} #{cursor_flag} #{wrap_flag}"]).trim().split(" ");
    return { alternate: alternate === "1", cursor: cursor === "1", wrap: wrap === "1" };
  }

  /** Resizes the window: the program in it gets SIGWINCH. */
  resize(columns: number, rows: number) {
    this.tmux(["resize-window", "-t", "top", "-x", String(columns), "-y", String(rows)]);
  }

  /**
   * Stops the tmux server (SIGSTOP) until the handle is disposed: nothing
   * reads the pane's pty any more, so the program's writes fill it and then
   * wait. Make no other call on this screen meanwhile (tmux would not answer).
   */
  stopReading(): Disposable {
    const server = Number(this.tmux(["display-message", "-p", "#{pid}"]).trim());
    process.kill(server, "SIGSTOP");
    return { [Symbol.dispose]: () => process.kill(server, "SIGCONT") };
  }

  capture(): string {
    return this.tmux(["capture-pane", "-p", "-t", "top"]);
  }

  /** Polls the screen until `check` holds; fails with the last screen after `timeoutMs`. */
  async waitFor(what: string, check: (screen: string) => boolean, timeoutMs = DEADLINE_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = "";
    while (Date.now() < deadline) {
      screen = this.capture();
      if (check(screen)) return screen;
      await Bun.sleep(100);
    }
    throw new Error(`screen never showed ${what}; last screen:\n${screen}`);
  }

  private tmux(args: string[]): string {
    const out = Bun.spawnSync(["tmux", "-L", this.socket, ...args], { env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
    if (out.exitCode !== 0) throw new Error(`tmux ${args[0]}: ${out.stderr.toString().trim()}`);
    return out.stdout.toString();
  }

  [Symbol.dispose]() {
    Bun.spawnSync(["tmux", "-L", this.socket, "kill-server"], { stdout: "ignore", stderr: "ignore" });
    // The server leaves its socket file behind.
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }
}

/** The table line of the flow to `dstPort`, split in cells (IFACE DIR PROTO SOURCE DESTINATION 2s 10s 40s TOTAL PKTS …). */
export function flowRow(screen: string, dstPort: number): string[] | undefined {
  const line = screen.split("\n").find((l) => new RegExp(`\\S+:${dstPort}\\s`).test(l) && /\b(in|out)\b/.test(l) && !l.startsWith("flow "));
  return line?.trim().split(/\s+/);
}
