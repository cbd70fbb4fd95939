/**
 * The real agent as a child process (optionally inside a namespace), with its
 * JSON-lines stdout parsed into flows and its stderr kept for assertions.
 */
import type { Subprocess } from "bun";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { DEADLINE_MS } from "./wait-for.ts";

export const repoRoot = join(import.meta.dir, "..", "..");
export const cliPath = join(repoRoot, "src", "cli", "main.ts");

export class AgentProcess implements AsyncDisposable {
  readonly flows: FlowJson[] = [];
  stderr = "";
  private stdoutText = "";
  private exited: Promise<number>;

  private constructor(
    private readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    private readonly onFlow?: (flow: FlowJson) => void,
  ) {
    this.exited = proc.exited;
    const out = this.pump(proc.stdout, (text) => {
      this.stdoutText += text;
      let nl: number;
      while ((nl = this.stdoutText.indexOf("\n")) >= 0) {
        const line = this.stdoutText.slice(0, nl);
        this.stdoutText = this.stdoutText.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        if (this.onFlow) this.onFlow(JSON.parse(line));
        else this.flows.push(JSON.parse(line));
      }
    });
    const err = this.pump(proc.stderr, (text) => (this.stderr += text));
    this.drained = Promise.all([out, err]).then(() => {});
  }
  /** Both pipes read to their end. */
  private readonly drained: Promise<void>;

  /**
   * Starts `netflow-agent <args>` (in `ns` when given) and waits for it to report it is capturing.
   * `onFlow`, when given, receives each flow instead of `flows` keeping it (millions of flows).
   * `command` runs another build of the agent (a compiled executable) instead of this checkout's CLI.
   */
  static async start(
    args: string[],
    options: { ns?: string; env?: Record<string, string>; readyText?: string; onFlow?: (flow: FlowJson) => void; command?: string[]; cwd?: string } = {},
  ): Promise<AgentProcess> {
    const cmd = [...(options.ns ? ["ip", "netns", "exec", options.ns] : []), ...(options.command ?? [process.execPath, cliPath]), ...args];
    const proc = Bun.spawn(cmd, { cwd: options.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...options.env } });
    const agent = new AgentProcess(proc, options.onFlow);
    const ready = options.readyText ?? "capturing on";
    // Generous: bun starting and the BPF load on a loaded machine; reached only when it does not start.
    const deadline = Date.now() + DEADLINE_MS;
    while (!agent.stderr.includes(ready)) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        // Never leave it running: the caller gets no object to dispose.
        if (proc.exitCode === null) proc.kill("SIGKILL");
        await proc.exited;
        await agent.drained;
        throw new Error(`agent did not start (exit ${proc.exitCode}): ${agent.stderr}`);
      }
      await Bun.sleep(20);
    }
    return agent;
  }

  get pid() {
    return this.proc.pid;
  }

  /** SIGTERM, then waits for the final flush; returns the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    if (this.proc.exitCode === null) this.proc.kill(signal);
    const code = await this.exited;
    await this.drained;
    return code;
  }

  private async pump(stream: ReadableStream<Uint8Array>, on: (text: string) => void) {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      on(decoder.decode(value, { stream: true }));
    }
  }

  async [Symbol.asyncDispose]() {
    if (this.proc.exitCode === null) {
      this.proc.kill("SIGKILL");
      await this.exited;
    }
  }
}

/** The agent's line about stdout records it could not write at exit (the reader too slow), if any. */
export function sinkLossAtExit(stderr: string): string | null {
  return /^.*stdout: \d+ records not written.*$/m.exec(stderr)?.[0] ?? null;
}
