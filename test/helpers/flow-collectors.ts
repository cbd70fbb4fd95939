/**
 * Third-party IPFIX peers run for real, inside a test's network namespace:
 * nfdump's nfcapd (stores flows, read back with `nfdump -o json`), pmacct's
 * nfacctd (prints flows as JSON), and a tshark capture of the export decoded
 * with `tshark -V`. Each is disposed by its owner; nothing outlives the test.
 */
import { $, type Subprocess } from "bun";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./wait-for.ts";

/** A free-enough UDP port inside a fresh namespace (nothing else listens there). */
export function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 30000);
}

const inNs = (ns: string | undefined, cmd: string[]) => (ns ? ["ip", "netns", "exec", ns, ...cmd] : cmd);

/** One flow as `nfdump -o json` prints it (the fields the tests read). */
export interface NfdumpFlow {
  first: string;
  last: string;
  in_packets: number;
  in_bytes: number;
  proto: number;
  tcp_flags: string;
  src_port: number;
  dst_port: number;
  src4_addr?: string;
  dst4_addr?: string;
  src6_addr?: string;
  dst6_addr?: string;
  input_snmp: number;
  output_snmp: number;
  direction: number;
  src_tos: number;
  icmp_type?: number;
  icmp_code?: number;
  in_src_mac?: string;
  out_dst_mac?: string;
  in_dst_mac?: string;
  [key: string]: unknown;
}

export class Nfcapd implements AsyncDisposable {
  private output = "";
  private constructor(
    private readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    readonly dir: string,
    readonly port: number,
  ) {
    this.reading = Promise.all([this.read(proc.stdout), this.read(proc.stderr)]).then(() => {});
  }
  /** Both pipes read to their end. */
  private readonly reading: Promise<void>;

  /** nfcapd on 127.0.0.1:`port` in `ns`; `repeatTo`: a port on 127.0.0.1 it forwards every datagram to (-R). */
  static async start(options: { ns?: string; port?: number; repeatTo?: number; dir?: string } = {}): Promise<Nfcapd> {
    const port = options.port ?? randomPort();
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), "nfcapd-"));
    const args = ["nfcapd", "-p", String(port), "-b", "127.0.0.1", "-w", dir, "-t", "3600", "-B", "8388608"];
    if (options.repeatTo) args.push("-R", `127.0.0.1/${options.repeatTo}`);
    const proc = Bun.spawn(inNs(options.ns, args), { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, TZ: "UTC" } });
    const collector = new Nfcapd(proc, dir, port);
    await waitFor(`nfcapd listening on ${port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`nfcapd exited ${proc.exitCode}: ${collector.output}`);
      return (await $`${inNs(options.ns, ["ss", "-Hlun", `sport = :${port}`])}`.quiet().text()).trim() !== "";
    });
    return collector;
  }

  /** Stops it (SIGTERM: it writes its file) and returns its closing statistics line. */
  async stop(): Promise<{ flows: number; packets: number; sequenceErrors: number; badPackets: number }> {
    if (this.proc.exitCode === null) this.proc.kill("SIGTERM");
    await this.proc.exited;
    await this.reading;
    const stats = [...this.output.matchAll(/Flows: (\d+), Packets: (\d+), Bytes: \d+, Sequence Errors: (\d+), Bad Packets: (\d+)/g)];
    const sum = (k: number) => stats.reduce((s, m) => s + Number(m[k]), 0);
    return { flows: sum(1), packets: sum(2), sequenceErrors: sum(3), badPackets: sum(4) };
  }

  get log(): string {
    return this.output;
  }

  /** Every stored flow, with millisecond times (read with TZ=UTC). */
  async flows(): Promise<NfdumpFlow[]> {
    const text = await $`nfdump -R ${this.dir} -o json`.env({ ...process.env, TZ: "UTC" }).quiet().text();
    return text.trim() === "" ? [] : JSON.parse(text);
  }

  private async read(stream: ReadableStream<Uint8Array>) {
    const text = await new Response(stream).text(); // read first: `+=` would take this.output before the await
    this.output += text;
  }

  async [Symbol.asyncDispose]() {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One flow as nfacctd's print plugin writes it (JSON). */
export interface NfacctdFlow {
  ip_src: string;
  ip_dst: string;
  port_src: number;
  port_dst: number;
  ip_proto: string;
  tcp_flags: string;
  iface_in: number;
  iface_out: number;
  timestamp_start: string;
  timestamp_end: string;
  packets: number;
  bytes: number;
  [key: string]: unknown;
}

export class Nfacctd implements AsyncDisposable {
  private constructor(
    private readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async start(options: { ns?: string; port?: number } = {}): Promise<Nfacctd> {
    const port = options.port ?? randomPort();
    const dir = mkdtempSync(join(tmpdir(), "nfacctd-"));
    // Times since the epoch with their milliseconds; flows appended at each refresh.
    writeFileSync(
      join(dir, "nfacctd.conf"),
      [
        "daemonize: false",
        "nfacctd_ip: 127.0.0.1",
        `nfacctd_port: ${port}`,
        "plugins: print",
        "aggregate: src_host, dst_host, src_port, dst_port, proto, tcpflags, in_iface, out_iface, timestamp_start, timestamp_end",
        "print_output: json",
        `print_output_file: ${join(dir, "flows.json")}`,
        "print_output_file_append: true",
        "print_refresh_time: 1",
        "timestamps_since_epoch: true",
        "",
      ].join("\n"),
    );
    const proc = Bun.spawn(inNs(options.ns, ["nfacctd", "-f", join(dir, "nfacctd.conf")]), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    await waitFor(`nfacctd listening on ${port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`nfacctd exited ${proc.exitCode}: ${await new Response(proc.stderr).text()}`);
      return (await $`${inNs(options.ns, ["ss", "-Hlun", `sport = :${port}`])}`.quiet().text()).trim() !== "";
    });
    return new Nfacctd(proc, dir, port);
  }

  /** The flows printed so far (its cache is purged to the file every second). */
  flows(): NfacctdFlow[] {
    const file = join(this.dir, "flows.json");
    if (!existsSync(file)) return [];
    return readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
  }

  async [Symbol.asyncDispose]() {
    // Its core may ignore SIGTERM once its plugin has gone: stop it by PID, for good.
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
    await $`pkill -KILL -f ${join(this.dir, "nfacctd.conf")}`.quiet().nothrow();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One IPFIX message of a capture, as tshark decodes it. */
export interface CapturedMessage {
  frame: number;
  domain: number;
  sequence: number;
  /** Set ids in order: 2 templates, 3 options templates, ≥ 256 data of that template. */
  setIds: number[];
  interfaceNames: string[];
  /** Present when tshark's sequence analysis expected another number (its warning). */
  expectedSequence?: number;
}

/**
 * A capture of the UDP datagrams to `port` on the loopback of `ns` (dumpcap,
 * tshark's capture engine, run directly: one process to stop; tshark killed
 * instead would leave its dumpcap behind), decoded with tshark.
 */
export class TsharkCapture implements AsyncDisposable {
  private stderr = "";
  private constructor(
    private readonly proc: Subprocess<"ignore", "ignore", "pipe">,
    readonly file: string,
    readonly port: number,
  ) {}

  static async start(ns: string | undefined, port: number): Promise<TsharkCapture> {
    const file = join(mkdtempSync(join(tmpdir(), "tshark-")), "export.pcap");
    const proc = Bun.spawn(inNs(ns, ["dumpcap", "-q", "-n", "-i", "lo", "-f", `udp dst port ${port}`, "-w", file]), { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const capture = new TsharkCapture(proc, file, port);
    void (async () => {
      const reader = proc.stderr.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        capture.stderr += new TextDecoder().decode(value);
      }
    })();
    await waitFor("dumpcap capturing", async () => {
      if (proc.exitCode !== null) throw new Error(`dumpcap exited ${proc.exitCode}: ${capture.stderr}`);
      return capture.stderr.includes("Capturing on");
    });
    return capture;
  }

  /**
   * Stops the capture once its file holds `datagrams` datagrams (what the
   * exporter reported sending: loopback hands each to the capture socket as
   * it is sent, and dumpcap writes it out within its update interval).
   */
  async stop(datagrams: number) {
    let captured = 0;
    await waitFor(`the capture to hold ${datagrams} datagrams`, async () => (captured = await this.count()) >= datagrams, { state: () => captured });
    if (this.proc.exitCode === null) this.proc.kill("SIGINT");
    await this.proc.exited;
  }

  /** Datagrams in the file so far (it may end in a packet being written: that one is not counted). */
  private async count(): Promise<number> {
    const text = await $`tshark -r ${this.file} -T fields -e frame.number`.quiet().nothrow().text();
    return text.split("\n").filter((line) => line.trim() !== "").length;
  }

  /** `tshark -V` of the capture, the export port decoded as IPFIX. */
  async decode(): Promise<string> {
    return $`tshark -r ${this.file} -d udp.port==${this.port},cflow -V`.quiet().text();
  }

  /**
   * Every captured message in order: its observation domain, sequence number,
   * set ids, and the interface names its options data carries (IE 82), as
   * `tshark -T fields` reads them.
   */
  async messages(): Promise<CapturedMessage[]> {
    const fields = ["frame.number", "cflow.od_id", "cflow.sequence", "cflow.flowset_id", "cflow.if_name", "cflow.sequence_analysis.expected_sn"];
    const text = await $`tshark -r ${this.file} -d udp.port==${this.port},cflow -T fields ${fields.flatMap((f) => ["-e", f])} -E separator=/t -E aggregator=,`
      .quiet()
      .text();
    const list = (cell: string | undefined) => (cell ? cell.split(",") : []);
    return text
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => {
        const [frame, domain, sequence, sets, names, expected] = line.split("\t");
        return {
          frame: Number(frame),
          domain: Number(domain),
          sequence: Number(sequence),
          setIds: list(sets).map(Number),
          interfaceNames: list(names),
          ...(expected ? { expectedSequence: Number(expected) } : {}),
        };
      });
  }

  /** Expert information of error or warning severity, as `tshark -z expert` lists it. */
  async expertProblems(): Promise<string> {
    return $`tshark -r ${this.file} -d udp.port==${this.port},cflow -q -z expert,warn`.quiet().text();
  }

  async [Symbol.asyncDispose]() {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
    rmSync(join(this.file, ".."), { recursive: true, force: true });
  }
}
