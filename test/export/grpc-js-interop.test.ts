/**
 * Our exporter against an independent gRPC implementation: a @grpc/grpc-js
 * server (test-only) that loads proto/ with @grpc/proto-loader (protobufjs),
 * so neither our generated code nor Connect's server is on the receiving
 * side. Covers netflow.v1 and pbflow, h2c and mutual TLS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { $ } from "bun";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GrpcExporter, type GrpcExportSettings } from "../../src/export/grpc-exporter.ts";
import { capturingLogger, numberedBatch } from "./export-fixtures.ts";

const protoDir = join(import.meta.dir, "..", "..", "proto");

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loaded = any;

const definition = protoLoader.loadSync(["netflow/v1/collector.proto", "pbflow/flow.proto"], {
  includeDirs: [protoDir],
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
});
const loaded: Loaded = grpc.loadPackageDefinition(definition);

/** A grpc-js server with both services; requests are kept as grpc-js decoded them. */
async function grpcJsServer(credentials = grpc.ServerCredentials.createInsecure()) {
  const exports: Loaded[] = [];
  const sends: Loaded[] = [];
  const server = new grpc.Server();
  server.addService(loaded.netflow.v1.CollectorService.service, {
    Export: (call: Loaded, callback: Loaded) => {
      exports.push(call.request);
      callback(null, { duplicate: false });
    },
  });
  server.addService(loaded.pbflow.Collector.service, {
    Send: (call: Loaded, callback: Loaded) => {
      sends.push(call.request);
      callback(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    port,
    exports,
    sends,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

function settings(port: number, overrides: Partial<GrpcExportSettings> = {}): GrpcExportSettings {
  return { target: { host: "127.0.0.1", port }, protocol: "netflow", queueBytes: 2 ** 20, batchRecords: 1000, batchIntervalMs: 20, flushTimeoutMs: 3000, ...overrides };
}

describe("grpc-js server receives from our exporter (h2c)", () => {
  test("netflow.v1 CollectorService/Export", async () => {
    const server = await grpcJsServer();
    try {
      const exporter = GrpcExporter.connect(settings(server.port), capturingLogger().log);
      exporter.export(numberedBatch(0, 3));
      await exporter[Symbol.asyncDispose]();
      expect(server.exports).toHaveLength(1);
      const request = server.exports[0];
      expect(request.sequence).toBe("1");
      expect(request.agent.agent_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(request.batch.flows.map((f: Loaded) => f.bytes)).toEqual(["0", "1", "2"]);
      const flow = request.batch.flows[0];
      expect(flow).toMatchObject({
        interface: "veth-a",
        direction: "DIRECTION_EGRESS",
        eth_type: 0x0800,
        src_port: 1024,
        dst_port: 5000,
        protocol: 17,
        packets: "1",
        dscp: 46,
        start: { seconds: "1764000000", nanos: 250_000_000 },
      });
      expect(flow.src_addr.toString("hex")).toBe("c6120001");
      expect(flow.src_mac.toString("hex")).toBe("02000000000a");
      expect(request.batch.kernel).toEqual({ ringbuf_packets: "3", dropped_packets: "0", dropped_bytes: "0", map_errors: "1", truncated: "2" });
    } finally {
      await server.close();
    }
  });

  test("pbflow Collector/Send", async () => {
    const server = await grpcJsServer();
    try {
      const exporter = GrpcExporter.connect(settings(server.port, { protocol: "netobserv", agentIp: new Uint8Array([10, 0, 0, 1]) }), capturingLogger().log);
      exporter.export(numberedBatch(0, 2));
      await exporter[Symbol.asyncDispose]();
      expect(server.sends).toHaveLength(1);
      const [entry] = server.sends[0].entries;
      expect(entry).toMatchObject({
        eth_protocol: 0x0800,
        direction: "EGRESS",
        data_link: { src_mac: String(0x02000000000a), dst_mac: String(0x02000000000b) },
        network: { src_addr: { ipv4: 0xc6120001, ip_family: "ipv4" }, dst_addr: { ipv4: 0xc6120002 }, dscp: 46 },
        transport: { src_port: 1024, dst_port: 5000, protocol: 17 },
        bytes: "0",
        packets: "1",
        interface: "veth-a",
        agent_ip: { ipv4: 0x0a000001 },
        dup_list: [{ interface: "veth-a", direction: "EGRESS" }],
        time_flow_start: { seconds: "1764000000", nanos: 250_000_000 },
      });
    } finally {
      await server.close();
    }
  });
});

describe("mutual TLS", () => {
  let dir = "";
  const pem = (name: string) => readFileSync(join(dir, name));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "netflow-tls-"));
    const ssl = (args: string[]) => $`openssl ${args}`.cwd(dir).quiet();
    await ssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test CA"]);
    for (const [name, ext] of [["server", "subjectAltName=DNS:collector.test"], ["client", "extendedKeyUsage=clientAuth"]]) {
      await ssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
      await Bun.write(join(dir, `${name}.ext`), ext + "\n");
      await ssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`]);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const tlsServer = () =>
    grpcJsServer(grpc.ServerCredentials.createSsl(pem("ca.pem"), [{ private_key: pem("server.key"), cert_chain: pem("server.pem") }], true));

  test("with CA, client certificate and --tls-server-name: delivered", async () => {
    const server = await tlsServer();
    try {
      const { log, lines } = capturingLogger();
      const tls = { ca: pem("ca.pem"), cert: pem("client.pem"), key: pem("client.key"), serverName: "collector.test" };
      const exporter = GrpcExporter.connect(settings(server.port, { tls }), log);
      exporter.export(numberedBatch(0, 5));
      await exporter[Symbol.asyncDispose]();
      expect(server.exports.map((r: Loaded) => r.batch.flows.length)).toEqual([5]);
      expect(lines[0]).toContain("(netflow.v1.CollectorService/Export, TLS)");
    } finally {
      await server.close();
    }
  });

  test("without a client certificate, or with the wrong server name: not delivered, one clear line", async () => {
    const server = await tlsServer();
    try {
      for (const [tls, reason] of [
        [{ ca: pem("ca.pem"), serverName: "collector.test" }, "CERTIFICATE_REQUIRED"],
        // Without --tls-server-name the certificate must name 127.0.0.1; it names collector.test.
        [{ ca: pem("ca.pem"), cert: pem("client.pem"), key: pem("client.key") }, "IP: 127.0.0.1 is not in the cert's list"],
      ] as const) {
        const { log, lines } = capturingLogger();
        const exporter = GrpcExporter.connect(settings(server.port, { tls, flushTimeoutMs: 1000 }), log);
        exporter.export(numberedBatch(0, 5));
        await exporter[Symbol.asyncDispose]();
        expect(exporter.details()).toMatchObject({ sentRecords: 0, notFlushedRecords: 5, collector: "down" });
        const failing = lines.filter((l) => l.includes(" failing: "));
        expect(failing).toHaveLength(1);
        expect(failing[0]).toContain(reason);
      }
      expect(server.exports).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
