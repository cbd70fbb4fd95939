#!/usr/bin/env bun
/**
 * An agent's Status on request, from inside its namespace: one long-lived
 * process (one HTTP/2 connection) answers each line it reads on stdin with
 * one JSON line, the report or {"error": "..."}. A call costs a few ms, where
 * spawning agent-status.ts costs a runtime start each time: loops that ask
 * once per step use this.
 *   bun status-relay.ts <target>     (run under `ip netns exec <ns>`)
 */
import type { AgentStatusReport } from "../../src/api/watch-client.ts";

export class StatusRelay implements AsyncDisposable {
  private readonly proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  private readonly lines: AsyncIterator<string>;

  constructor(ns: string, target = "127.0.0.1:9990") {
    this.proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, import.meta.path, target], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    this.lines = readLines(this.proc.stdout);
  }

  /** The agent's Status now; throws what the call failed with. Calls are answered in order: await each. */
  async status(): Promise<AgentStatusReport> {
    this.proc.stdin.write("\n");
    await this.proc.stdin.flush();
    const next = await this.lines.next();
    if (next.done) throw new Error(`status relay exited (${await this.proc.exited}): ${(await new Response(this.proc.stderr).text()).trim()}`);
    const report = JSON.parse(next.value);
    if (report.error) throw new Error(`Status: ${report.error}`);
    return report;
  }

  async [Symbol.asyncDispose]() {
    this.proc.stdin.end();
    this.proc.kill("SIGTERM");
    await this.proc.exited;
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let text = "";
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    text += decoder.decode(r.value, { stream: true });
    let nl: number;
    while ((nl = text.indexOf("\n")) >= 0) {
      yield text.slice(0, nl);
      text = text.slice(nl + 1);
    }
  }
}

if (import.meta.main) {
  const { fetchStatus } = await import("../../src/api/watch-client.ts");
  const target = process.argv[2]!;
  for await (const _ of console) {
    try {
      process.stdout.write(JSON.stringify(await fetchStatus(target)) + "\n");
    } catch (error) {
      process.stdout.write(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }) + "\n");
    }
  }
  process.exit(0);
}
