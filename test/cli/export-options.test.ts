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
    [{ export: "" }, `--export "" must name at least one of: stdout, grpc, ipfix`],
    [{ export: "stdout,kafka" }, `--export "kafka" must be one of: stdout, grpc, ipfix`],
    // A sink's flags without that sink would do nothing: said, not ignored.
    [{ target: "h:1" }, `--target applies to --export grpc, which --export "stdout" does not include (add it: --export stdout,grpc)`],
    [{ export: "ipfix", ipfixTarget: "h:1", protocol: "netobserv" }, `--protocol applies to --export grpc, which --export "ipfix" does not include (add it: --export ipfix,grpc)`],
    [{ tls: true }, `--tls applies to --export grpc`],
    [{ tlsCa: "ca.pem" }, `--tls-ca applies to --export grpc`],
    [{ agentIp: "192.0.2.1" }, `--agent-ip applies to --export grpc`],
    [{ exportBatchRecords: "10" }, `--export-batch-records applies to --export grpc`],
    [{ exportQueueBytes: "1GiB" }, `--export-queue-bytes applies to --export grpc or ipfix, which --export "stdout" does not include`],
    [{ export: "grpc", target: "h:1", ipfixTarget: "h:2" }, `--ipfix-target applies to --export ipfix, which --export "grpc" does not include (add it: --export grpc,ipfix)`],
    [{ ipfixMtu: "9000" }, `--ipfix-mtu applies to --export ipfix`],
    [{ export: "ipfix" }, "--ipfix-target is required with --export ipfix (example: --ipfix-target 127.0.0.1:4739)"],
    [{ export: "ipfix", ipfixTarget: "collector" }, `--ipfix-target "collector" must be host:port with port 1-65535`],
    [{ export: "ipfix", ipfixTarget: "h:1", ipfixMtu: "576" }, "--ipfix-mtu 576 must be >= 1280 and <= 65535"],
    [{ export: "ipfix", ipfixTarget: "h:1", ipfixDomain: "-1" }, "--ipfix-domain"],
    [{ export: "ipfix", ipfixTarget: "h:1", ipfixDomain: "4294967296" }, "--ipfix-domain 4294967296 must be >= 0 and <= 4294967295"],
    [{ export: "ipfix", ipfixTarget: "h:1", ipfixTemplateRefresh: "100ms" }, "--ipfix-template-refresh 100ms must be >= 1000ms"],
    [{ export: "ipfix", ipfixTarget: "h:1", ipfixRate: "fast" }, "--ipfix-rate"],
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

  test("ipfix with defaults, and tuned; it shares --export-queue-bytes with grpc", () => {
    expect(buildExportConfig(flags({ export: "stdout,ipfix", ipfixTarget: "127.0.0.1:4739" })).ipfix).toEqual({
      target: { host: "127.0.0.1", port: 4739 },
      domain: 1,
      templateRefreshMs: 60_000,
      mtu: 1500,
      rate: 10_000,
      queueBytes: 256 * 2 ** 20,
      flushTimeoutMs: 5000,
    });
    const tuned = buildExportConfig(
      flags({ export: "ipfix", ipfixTarget: "[::1]:2055", ipfixDomain: "4294967295", ipfixTemplateRefresh: "1s", ipfixMtu: "9000", ipfixRate: "500", exportQueueBytes: "8MiB" }),
    );
    expect(tuned.ipfix).toMatchObject({ target: { host: "::1", port: 2055 }, domain: 4294967295, templateRefreshMs: 1000, mtu: 9000, rate: 500, queueBytes: 8 * 2 ** 20 });
    expect(tuned.grpc).toBeUndefined();
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
