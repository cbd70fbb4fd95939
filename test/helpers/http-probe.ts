#!/usr/bin/env bun
/**
 * HTTP GETs from inside a namespace, where the agent's 127.0.0.1 listeners
 * are (run under `ip netns exec`), without a runtime start per request:
 *   bun http-probe.ts relay                one JSON line {status, body} for each URL read on stdin
 *   bun http-probe.ts poll <url> <ms>      GET every <ms> until SIGTERM: a JSON line {status, body}
 *                                          at each change of status (0: not reachable), then
 *                                          {"done": true, "requests": N, "failures": N} at the end
 */
import { waitFor } from "./wait-for.ts";

export interface ProbeAnswer {
  status: number;
  body: string;
}

async function get(url: string): Promise<ProbeAnswer> {
  try {
    const response = await fetch(url);
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { status: 0, body: error instanceof Error ? error.message : String(error) };
  }
}

/** One long-lived prober in namespace `ns`. */
export class HttpRelay implements AsyncDisposable {
  private readonly proc: Bun.Subprocess<"pipe", "pipe", "ignore">;
  private readonly lines: AsyncIterator<string>;

  constructor(ns: string) {
    this.proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, import.meta.path, "relay"], { stdin: "pipe", stdout: "pipe", stderr: "ignore" });
    this.lines = readLines(this.proc.stdout);
  }

  /** GET `url` in the namespace. Calls are answered in order: await each. */
  async get(url: string): Promise<ProbeAnswer> {
    this.proc.stdin.write(url + "\n");
    await this.proc.stdin.flush();
    const next = await this.lines.next();
    if (next.done) throw new Error(`http relay exited (${await this.proc.exited})`);
    return JSON.parse(next.value);
  }

  async [Symbol.asyncDispose]() {
    this.proc.stdin.end();
    this.proc.kill("SIGTERM");
    await this.proc.exited;
  }
}

/** GETs `url` every `everyMs` in namespace `ns` until stopped, keeping each change of answer. */
export class HttpPoller implements AsyncDisposable {
  readonly changes: ProbeAnswer[] = [];
  private summary: { requests: number; failures: number } | undefined;
  private readonly proc: Bun.Subprocess<"ignore", "pipe", "ignore">;
  private readonly reading: Promise<void>;

  constructor(ns: string, url: string, everyMs: number) {
    const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, import.meta.path, "poll", url, String(everyMs)], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
    this.proc = proc;
    this.reading = (async () => {
      for (let lines = readLines(proc.stdout), r = await lines.next(); !r.done; r = await lines.next()) {
        const line = JSON.parse(r.value);
        if (line.done) this.summary = { requests: line.requests, failures: line.failures };
        else this.changes.push(line);
      }
    })();
  }

  /** Resolves once the first answer is in (the poller runs). */
  async started(): Promise<void> {
    await waitFor("the HTTP poller's first answer", () => this.changes.length > 0);
  }

  /** Stops polling; returns how many requests were made and how many failed (not reachable or not 200). */
  async stop(): Promise<{ requests: number; failures: number }> {
    this.proc.kill("SIGTERM");
    await this.proc.exited;
    await this.reading;
    if (!this.summary) throw new Error("the poller ended without its summary");
    return this.summary;
  }

  async [Symbol.asyncDispose]() {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let text = "";
  for (const reader = stream.getReader(); ; ) {
    const { value, done } = await reader.read();
    if (done) return;
    text += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = text.indexOf("\n")) >= 0) {
      yield text.slice(0, nl);
      text = text.slice(nl + 1);
    }
  }
}

if (import.meta.main) {
  const [mode, url, every] = process.argv.slice(2);
  if (mode === "relay") {
    for await (const line of readLines(Bun.stdin.stream())) console.log(JSON.stringify(await get(line.trim())));
    process.exit(0);
  }
  let running = true;
  process.on("SIGTERM", () => (running = false));
  let requests = 0;
  let failures = 0;
  let lastStatus = -1;
  while (running) {
    const started = performance.now();
    const answer = await get(url!);
    requests++;
    if (answer.status !== 200) failures++;
    if (answer.status !== lastStatus) console.log(JSON.stringify(answer));
    lastStatus = answer.status;
    await Bun.sleep(Math.max(0, Number(every) - (performance.now() - started)));
  }
  console.log(JSON.stringify({ done: true, requests, failures }));
  process.exit(0);
}
