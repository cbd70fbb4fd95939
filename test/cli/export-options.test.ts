import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildExportConfig as buildWithCeiling, EXPORT_DEFAULTS, type ExportFlags } from "../../src/cli/export-options.ts";

const flags = (overrides: Partial<ExportFlags>): ExportFlags => ({ ...EXPORT_DEFAULTS, ...overrides });
/** At the default map ceiling (--cache-max-flows 1048576), which sizes the queue's default. */
const buildExportConfig = (f: ExportFlags) => buildWithCeiling(f, 1_048_576);

describe("--export and its flags", () => {
  test("stdout by default, nothing else configured", () => {
    expect(buildExportConfig(flags({}))).toEqual({ sinks: ["stdout"], flushTimeoutMs: 5000, stdoutQueueBytes: 64 * 2 ** 20 });
  });

  test("grpc with defaults", () => {
    expect(buildExportConfig(flags({ export: "stdout, grpc", target: "[::1]:9999" }))).toEqual({
      sinks: ["stdout", "grpc"],
      flushTimeoutMs: 5000,
      stdoutQueueBytes: 64 * 2 ** 20,
      grpc: {
        target: { host: "::1", port: 9999 },
        protocol: "netflow",
        tls: undefined,
        queueBytes: 256 * 2 ** 20,
        queueRecords: undefined,
        batchRecords: 5000,
        batchIntervalMs: 1000,
        flushTimeoutMs: 5000,
        agentIp: undefined,
      },
    });
  });

  test("grpc only, netobserv, agent ip, tuned queue", () => {
    const config = buildExportConfig(
      flags({ export: "grpc", target: "flp.example:2055", protocol: "netobserv", agentIp: "192.0.2.7", exportQueueBytes: "1GiB", exportQueueRecords: "5000", exportBatchRecords: "5000", exportBatchInterval: "250ms", exportFlushTimeout: "0" }),
    );
    expect(config.sinks).toEqual(["grpc"]);
    expect(config.grpc).toMatchObject({ target: { host: "flp.example", port: 2055 }, protocol: "netobserv", queueBytes: 2 ** 30, queueRecords: 5000, batchRecords: 5000, batchIntervalMs: 250, flushTimeoutMs: 0 });
    expect([...config.grpc!.agentIp!]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7]);
  });

  test("--export-queue-bytes: bytes or KiB/MiB/GiB; its default follows the map ceiling", () => {
    const bytes = (exportQueueBytes: string) => buildExportConfig(flags({ export: "grpc", target: "h:1", exportQueueBytes })).grpc!.queueBytes;
    expect([bytes("1048576"), bytes("512MiB"), bytes("2048KiB"), bytes("3GiB")]).toEqual([2 ** 20, 512 * 2 ** 20, 2 * 2 ** 20, 3 * 2 ** 30]);
    const byCeiling = (ceiling: number) => buildWithCeiling(flags({ export: "grpc", target: "h:1" }), ceiling).grpc!.queueBytes;
    expect([byCeiling(32_768), byCeiling(1_048_576), byCeiling(4_194_304)]).toEqual([64 * 2 ** 20, 256 * 2 ** 20, 2 ** 30]);
  });

  test.each([
    [{ export: "" }, `--export "" must name at least one of: stdout, grpc`],
    [{ export: "stdout,kafka" }, `--export "kafka" must be one of: stdout, grpc`],
    [{ export: "grpc" }, "--target is required with --export grpc (example: --target 127.0.0.1:9999)"],
    [{ export: "grpc", target: "collector" }, `--target "collector" must be host:port with port 1-65535 (examples: 127.0.0.1:9999, [::1]:9999, collector.example:2055)`],
    [{ export: "grpc", target: "10.0.0.1:0" }, `--target "10.0.0.1:0" must be host:port with port 1-65535 (examples: 127.0.0.1:9999, [::1]:9999, collector.example:2055)`],
    [{ export: "grpc", target: "10.0.0.1:65536" }, `--target "10.0.0.1:65536" must be host:port with port 1-65535 (examples: 127.0.0.1:9999, [::1]:9999, collector.example:2055)`],
    [{ export: "grpc", target: "h:1", protocol: "ipfix" }, `--protocol "ipfix" must be one of: netflow, netobserv`],
    [{ export: "grpc", target: "h:1", exportQueueRecords: "0" }, "--export-queue-records 0 must be >= 1 and <= 10000000"],
    [{ export: "grpc", target: "h:1", exportBatchRecords: "100001" }, "--export-batch-records 100001 must be >= 1 and <= 100000"],
    [{ export: "grpc", target: "h:1", exportQueueRecords: "4999" }, "--export-queue-records 4999 must be >= --export-batch-records 5000"],
    [{ export: "grpc", target: "h:1", exportQueueBytes: "lots" }, `--export-queue-bytes "lots" is not a size (examples: 268435456, 256MiB, 1GiB)`],
    [{ stdoutQueueBytes: "10KiB" }, "--stdout-queue-bytes 10KiB must be >= 1MiB and <= 64GiB"],
    [{ exportFlushTimeout: "forever" }, `--export-flush-timeout "forever" is not a duration (examples: 500ms, 5s, 1m)`],
    [{ export: "grpc", target: "h:1", exportQueueBytes: "512KiB" }, "--export-queue-bytes 512KiB must be >= 1MiB and <= 64GiB"],
    [{ export: "grpc", target: "h:1", exportQueueBytes: "65GiB" }, "--export-queue-bytes 65GiB must be >= 1MiB and <= 64GiB"],
    [{ export: "grpc", target: "h:1", exportBatchInterval: "2m" }, "--export-batch-interval 2m must be >= 10ms and <= 60000ms"],
    [{ export: "grpc", target: "h:1", exportFlushTimeout: "soon" }, `--export-flush-timeout "soon" is not a duration (examples: 500ms, 5s, 1m)`],
    [{ export: "grpc", target: "h:1", agentIp: "10.0.0.256" }, `--agent-ip "10.0.0.256" is not an IPv4 or IPv6 address`],
    [{ export: "grpc", target: "h:1", tlsCert: "c.pem" }, "--tls-cert needs --tls-key (the certificate's private key)"],
    [{ export: "grpc", target: "h:1", tlsKey: "k.pem" }, "--tls-key needs --tls-cert"],
    [{ export: "grpc", target: "h:1", tlsServerName: "x" }, "--tls-server-name needs --tls (or --tls-ca / --tls-cert)"],
    [{ export: "grpc", target: "h:1", tlsCa: "/nonexistent/ca.pem" }, "--tls-ca /nonexistent/ca.pem: cannot read it (ENOENT)"],
  ] as [Partial<ExportFlags>, string][])("%j → %s", (given, message) => {
    expect(() => buildExportConfig(flags(given))).toThrow(message);
  });

  test("--tls files are read once, here; --tls-ca implies --tls", () => {
    const dir = mkdtempSync(join(tmpdir(), "netflow-pem-"));
    try {
      for (const name of ["ca", "cert", "key"]) writeFileSync(join(dir, `${name}.pem`), `${name} bytes`);
      const config = buildExportConfig(
        flags({ export: "grpc", target: "h:1", tlsCa: join(dir, "ca.pem"), tlsCert: join(dir, "cert.pem"), tlsKey: join(dir, "key.pem"), tlsServerName: "collector.test" }),
      );
      const tls = config.grpc!.tls!;
      expect([tls.ca!.toString(), tls.cert!.toString(), tls.key!.toString(), tls.serverName]).toEqual(["ca bytes", "cert bytes", "key bytes", "collector.test"]);
      expect(buildExportConfig(flags({ export: "grpc", target: "h:1", tls: true })).grpc!.tls).toEqual({ ca: undefined, cert: undefined, key: undefined, serverName: undefined });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("netflow-agent run --export grpc without --target: one line, exit 2", async () => {
  const cli = join(import.meta.dir, "..", "..", "src", "cli", "main.ts");
  const proc = Bun.spawn([process.execPath, cli, "run", "--export", "grpc"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NETFLOW_TARGET: "" } });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  expect({ code, stdout, stderr }).toEqual({
    code: 2,
    stdout: "",
    stderr: "netflow-agent: error: --target is required with --export grpc (example: --target 127.0.0.1:9999)\n",
  });
});
