/**
 * A link with a fixed one-way delay, for the tests that compare what we
 * measure (DNS latency, TCP RTT) with what the real tools measure. This
 * kernel has no netem, so the delay is ours: namespace A (a0) ⇄ namespace M
 * (m0 … m1) ⇄ namespace B (b0), where M has no address and no forwarding and
 * a relay (delay-relay.c, compiled here on first use) copies every frame from
 * m0 to m1 and back, each after exactly `oneWayMs` from the moment the kernel
 * received it. A and B see each other on one Ethernet segment, `oneWayMs`
 * away each way. Addresses are in 198.18.0.0/15 and fd00::/8.
 *
 *   await using line = await DelayLine.create({ oneWayMs: 20 });
 *   await line.exec(line.a, ["ping", "-c", "3", line.b.ipv4]);
 *
 * Disposing stops what `spawn` started and the relay (only those: processes
 * this object started, by pid), then deletes the three namespaces.
 */
import { $, type Subprocess } from "bun";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configureHost, type Host } from "./netns.ts";
import { waitFor } from "./wait-for.ts";

export interface DelayLineOptions {
  /** Delay each way, in milliseconds (fractions allowed, 0 ≤ oneWayMs ≤ 10000). */
  oneWayMs: number;
  /** Picks 198.18.<subnet>.0/24 and fd00:<subnet>::/64. */
  subnet?: number;
  /** "static" (default): permanent neighbour entries, no ARP/ND on the line; "dynamic": ARP and ND through the relay. */
  neighbours?: "static" | "dynamic";
}

/** One direction of the relay, as delay-relay.c counts it (bytes are frame bytes, without the virtio-net header). */
export interface RelayDirection {
  /** The interface frames are read from: "m0" carries A → B, "m1" B → A. */
  name: string;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  txErrors: number;
  lastTxErrno: number;
  /** Frames dropped because more than 256 MiB waited. */
  queueDrops: number;
  truncated: number;
  /** Frames the kernel dropped for a full socket buffer since the last report (PACKET_STATISTICS resets on read). */
  socketDrops: number;
  maxQueuedBytes: number;
  /** How far past its due time a frame left: the delay line's error, beyond the kernel's own path. */
  lateMaxUs: number;
  lateMeanUs: number;
  lateOver1ms: number;
  holdMinUs: number;
  holdMaxUs: number;
}

export interface RelayStats {
  event: "stats" | "exit";
  /** Whether the relay threads got SCHED_FIFO (they fall back to ordinary threads without the privilege). */
  realtime: boolean;
  directions: RelayDirection[];
}

const relaySource = join(import.meta.dir, "delay-relay.c");
let counter = 0;

/** Compiles delay-relay.c once per source version into the temp dir (atomic rename: parallel test files may race). */
export async function relayBinary(): Promise<string> {
  const source = readFileSync(relaySource);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const dir = join(tmpdir(), `netflow-delay-relay-${hash}`);
  const binary = join(dir, "delay-relay");
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const compiler = Bun.which("cc") ?? Bun.which("clang") ?? Bun.which("gcc");
  if (!compiler) throw new Error("compiling test/helpers/delay-relay.c: no C compiler (cc, clang or gcc) — run .ci/setup");
  const partial = `${binary}.${process.pid}.tmp`;
  const built = await $`${compiler} -O2 -Wall -pthread -o ${partial} ${relaySource}`.quiet().nothrow();
  if (built.exitCode !== 0) throw new Error(`compiling ${relaySource} with ${compiler} failed: ${built.stderr.toString().trim()}`);
  renameSync(partial, binary);
  return binary;
}

/** Lines of a child's stdout, as they come. */
class LineReader {
  private lines: string[] = [];
  private waiting: ((line: string | undefined) => void)[] = [];
  private ended = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    void this.pump(stream);
  }

  private async pump(stream: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    let pending = "";
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        this.push(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    }
    this.ended = true;
    for (const resolve of this.waiting.splice(0)) resolve(undefined);
  }

  private push(line: string) {
    const resolve = this.waiting.shift();
    if (resolve) resolve(line);
    else this.lines.push(line);
  }

  /** The next line, or undefined once the stream has ended. */
  next(): Promise<string | undefined> {
    const line = this.lines.shift();
    if (line !== undefined || this.ended) return Promise.resolve(line);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

export class DelayLine implements AsyncDisposable {
  private relay: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  private relayLines: LineReader | undefined;
  private readonly children = new Set<Subprocess>();
  /** The relay's last report, read when it stopped (undefined before dispose). */
  finalStats: RelayStats | undefined;

  private constructor(
    readonly a: Host,
    readonly middle: string,
    readonly b: Host,
    readonly oneWayMs: number,
  ) {}

  static async create(options: DelayLineOptions): Promise<DelayLine> {
    const { oneWayMs } = options;
    if (!(oneWayMs >= 0 && oneWayMs <= 10_000)) throw new Error(`oneWayMs ${oneWayMs} must be >= 0 and <= 10000`);
    const subnet = options.subnet ?? (process.pid + counter) % 250;
    const id = `${process.pid}-${counter++}`;
    const a: Host = { ns: `nfLA-${id}`, ifname: "a0", ipv4: `198.18.${subnet}.1`, ipv6: `fd00:${subnet.toString(16)}::1`, mac: "02:00:00:00:01:0a" };
    const b: Host = { ns: `nfLB-${id}`, ifname: "b0", ipv4: `198.18.${subnet}.2`, ipv6: `fd00:${subnet.toString(16)}::2`, mac: "02:00:00:00:01:0b" };
    const line = new DelayLine(a, `nfLM-${id}`, b, oneWayMs);
    try {
      const binary = await relayBinary();
      await line.build(options.neighbours ?? "static");
      await line.startRelay(binary);
    } catch (error) {
      await line[Symbol.asyncDispose]();
      throw error;
    }
    return line;
  }

  private async build(neighbours: "static" | "dynamic") {
    const { a, b, middle: m } = this;
    for (const ns of [a.ns, m, b.ns]) await $`ip netns add ${ns}`.quiet();
    // M must stay silent: no IPv6 (no MLD, no router solicitations), no addresses.
    await $`ip netns exec ${m} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`.quiet();
    await $`ip link add ${a.ifname} netns ${a.ns} address ${a.mac} type veth peer name m0 netns ${m}`.quiet();
    await $`ip link add m1 netns ${m} type veth peer name ${b.ifname} netns ${b.ns} address ${b.mac}`.quiet();
    await $`ip -n ${m} link set m0 up`.quiet();
    await $`ip -n ${m} link set m1 up`.quiet();
    for (const [host, peer] of [[a, b], [b, a]] as const) await configureHost(host, peer, neighbours === "static");
  }

  private async startRelay(binary: string) {
    const us = String(Math.round(this.oneWayMs * 1000));
    const relay = Bun.spawn(["ip", "netns", "exec", this.middle, binary, "m0", "m1", us], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.relay = relay;
    this.relayLines = new LineReader(relay.stdout);
    // It prints "ready" once both sockets are bound, or exits with the reason on stderr.
    const first = await this.relayLines.next();
    if (first !== "ready") {
      const stderr = await new Response(relay.stderr).text().catch(() => "");
      throw new Error(`starting delay-relay in ${this.middle}: ${stderr.trim() || first || "exited"}`);
    }
  }

  /** The relay's counters now (socketDrops count since the previous report). */
  async relayStats(): Promise<RelayStats> {
    const relay = this.relay;
    if (!relay || !this.relayLines) throw new Error("the delay line's relay is not running");
    relay.kill("SIGUSR1");
    const line = await this.relayLines.next();
    if (!line) throw new Error(`delay-relay in ${this.middle} exited (code ${relay.exitCode})`);
    return JSON.parse(line) as RelayStats;
  }

  /** Runs `cmd` in `host`'s namespace to completion (throws on a non-zero exit, like Bun's $). */
  exec(host: Host, cmd: string[]) {
    return $`ip netns exec ${host.ns} ${cmd}`.quiet();
  }

  /** Starts `cmd` in `host`'s namespace; it is stopped at dispose if still running. */
  spawn(host: Host, cmd: string[]): Subprocess<"ignore", "pipe", "pipe"> {
    const child = Bun.spawn(["ip", "netns", "exec", host.ns, ...cmd], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  /** Waits for a TCP or UDP socket listening on `port` in `host` (ss -ln). */
  async waitForListener(host: Host, port: number, protocol: "tcp" | "udp" = "tcp") {
    const flag = protocol === "tcp" ? "-tlnH" : "-ulnH";
    await waitFor(`${protocol} port ${port} listening in ${host.ns}`, async () => {
      const out = await $`ip netns exec ${host.ns} ss ${flag} sport = :${port}`.quiet().nothrow();
      return out.stdout.toString().trim().length > 0;
    });
  }

  async [Symbol.asyncDispose]() {
    for (const child of this.children) await stop(child);
    const relay = this.relay;
    if (relay) {
      relay.kill("SIGTERM");
      for (;;) {
        const line = await this.relayLines?.next();
        if (line === undefined) break;
        if (line.startsWith("{")) this.finalStats = JSON.parse(line) as RelayStats;
      }
      await stop(relay);
    }
    for (const ns of [this.a.ns, this.middle, this.b.ns]) await $`ip netns del ${ns}`.quiet().nothrow();
  }
}

/** SIGTERM, then SIGKILL if it is still there after 5 s; resolves once it has exited. */
async function stop(child: Subprocess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
  if (!exited) {
    child.kill("SIGKILL");
    await child.exited;
  }
}
