#!/usr/bin/env bun
/**
 * An agent's Status (netflow.v1.AgentService) read where its API listens:
 * the agent's 127.0.0.1 is its namespace's, so the call runs there
 * (`ip netns exec`), as this file run as a script:
 *   bun agent-status.ts <target>                 one JSON line, the report
 *   bun agent-status.ts <target> --every <ms>    one line every <ms> until SIGTERM
 * A failed call prints {"error": "..."} in --every mode and goes on.
 */
import type { AgentStatusReport } from "../../src/api/watch-client.ts";

export type { AgentStatusReport };

/** The agent's Status, read inside namespace `ns`. */
export async function statusIn(ns: string, target = "127.0.0.1:9990"): Promise<AgentStatusReport> {
  const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, import.meta.path, target], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`Status of the agent in ${ns} at ${target}: exit ${code}: ${err.trim()}`);
  return JSON.parse(out);
}

/** A Status poller in namespace `ns`: one report every `everyMs`, kept as they come, until disposed. */
export class StatusPoller implements AsyncDisposable {
  readonly reports: { atMs: number; status?: AgentStatusReport; error?: string }[] = [];
  private readonly proc: Bun.Subprocess<"ignore", "pipe", "ignore">;
  private readonly reading: Promise<void>;

  constructor(ns: string, target: string, everyMs: number) {
    const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, import.meta.path, target, "--every", String(everyMs)], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
    });
    this.proc = proc;
    this.reading = (async () => {
      const decoder = new TextDecoder();
      const reader = proc.stdout.getReader();
      let text = "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        text += decoder.decode(r.value, { stream: true });
        let nl: number;
        while ((nl = text.indexOf("\n")) >= 0) {
          const line = JSON.parse(text.slice(0, nl));
          text = text.slice(nl + 1);
          this.reports.push({ atMs: Date.now(), ...(line.error ? { error: line.error } : { status: line }) });
        }
      }
    })();
  }

  /** The latest successful report. */
  latest(): AgentStatusReport | undefined {
    for (let i = this.reports.length - 1; i >= 0; i--) if (this.reports[i]!.status) return this.reports[i]!.status;
    return undefined;
  }

  async [Symbol.asyncDispose]() {
    this.proc.kill("SIGTERM");
    await this.proc.exited;
    await this.reading;
  }
}

if (import.meta.main) {
  const { fetchStatus } = await import("../../src/api/watch-client.ts");
  const [target, flag, every] = process.argv.slice(2);
  if (flag !== "--every") {
    console.log(JSON.stringify(await fetchStatus(target!)));
    process.exit(0);
  }
  let running = true;
  process.on("SIGTERM", () => (running = false));
  while (running) {
    const started = Date.now();
    try {
      // A busy agent answers late: the next report waits rather than fails.
      console.log(JSON.stringify(await fetchStatus(target!, { timeoutMs: 10_000 })));
    } catch (error) {
      console.log(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
    }
    await Bun.sleep(Math.max(0, Number(every) - (Date.now() - started)));
  }
  process.exit(0);
}
