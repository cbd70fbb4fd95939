/**
 * `netflow-agent collect`: the reference collector. Serves
 * netflow.v1.CollectorService, prints every new batch as JSON lines (the shape
 * `run` prints) and, on SIGINT/SIGTERM, per-agent totals on stderr.
 */
import { Command, Option } from "commander";
import { BatchLedger, ledgerLine } from "../collect/batch-ledger.ts";
import { collectorService } from "../collect/collector-service.ts";
import { openFlowOutput } from "../collect/output-file.ts";
import { JsonLinesExporter } from "../export/json-lines.ts";
import { CollectorService } from "../gen/netflow/v1/collector_pb.ts";
import { Collector as NetobservCollector } from "../gen/pbflow/flow_pb.ts";
import { netobservCollector } from "../collect/netobserv-collector.ts";
import { createLogger, type LogLevel } from "../log.ts";
import { startConnectServer } from "../net/connect-server.ts";
import { parseHostPort, type HostPort } from "../net/listen-address.ts";
import { parseChoice, parseInteger } from "./parse-values.ts";
import { untilSignal } from "./process-exit.ts";
import { writeStderr } from "../write-sync.ts";

interface CollectFlags {
  listen: string;
  outputFile?: string;
  maxRequestBytes: string;
  logLevel: string;
  protocol: string;
}

export interface CollectConfig {
  listen: HostPort;
  outputFile?: string;
  maxRequestBytes: number;
  logLevel: LogLevel;
  /** Services served: netflow.v1.CollectorService and/or pbflow.Collector. */
  protocols: ("netflow" | "netobserv")[];
}

export function buildCollectConfig(flags: CollectFlags): CollectConfig {
  return {
    listen: parseHostPort("--listen", flags.listen),
    outputFile: flags.outputFile,
    maxRequestBytes: parseInteger("--max-request-bytes", flags.maxRequestBytes, 1024, 4_294_967_295),
    logLevel: parseChoice("--log-level", flags.logLevel, ["error", "warn", "info", "debug"] as const),
    protocols: [...new Set(flags.protocol.split(",").map((p) => parseChoice("--protocol", p.trim(), ["netflow", "netobserv"] as const)))],
  };
}

export function registerCollect(program: Command) {
  program
    .command("collect")
    .summary("receive flows from agents (netflow.v1 gRPC/Connect) and print them as JSON lines")
    .description(
      "Serve netflow.v1.CollectorService: print every batch agents export (run --export grpc) as one JSON object " +
        "per flow per line, drop batches received twice (same agent id and sequence), and print per-agent totals " +
        "on stderr at SIGINT/SIGTERM.",
    )
    .addOption(new Option("--listen <host:port>", "address to serve on").default("127.0.0.1:9999").env("NETFLOW_COLLECT_LISTEN"))
    .addOption(new Option("--output-file <path>", "append JSON lines to this file instead of stdout").env("NETFLOW_COLLECT_OUTPUT_FILE"))
    .addOption(new Option("--max-request-bytes <n>", "larger requests are refused (RESOURCE_EXHAUSTED)").default("16777216").env("NETFLOW_COLLECT_MAX_REQUEST_BYTES"))
    .addOption(new Option("--log-level <level>", "error, warn, info or debug").default("info").env("NETFLOW_LOG_LEVEL"))
    .addOption(
      new Option("--protocol <list>", "services to serve: netflow (netflow.v1.CollectorService), netobserv (pbflow.Collector/Send), or netflow,netobserv")
        .default("netflow")
        .env("NETFLOW_COLLECT_PROTOCOL"),
    )
    .action(async (flags: CollectFlags) => collect(buildCollectConfig(flags)));
}

async function collect(config: CollectConfig) {
  const log = createLogger(config.logLevel);
  const ledger = new BatchLedger();
  using output = openFlowOutput(config.outputFile);
  await using sink = new JsonLinesExporter(output.write);
  await using server = await startConnectServer({
    listen: config.listen,
    readMaxBytes: config.maxRequestBytes,
    routes: (router) => {
      if (config.protocols.includes("netflow")) router.service(CollectorService, collectorService(ledger, sink));
      if (config.protocols.includes("netobserv")) router.service(NetobservCollector, netobservCollector(ledger, sink));
    },
  });
  log.info(`collecting on ${server.url}`);
  const signal = await untilSignal();
  await server.close();
  log.info(`${signal}: stopped`);
  const totals = ledger.totals();
  let report = totals.length === 0 ? "netflow-agent: totals: no batches received\n" : "";
  for (const t of totals) report += `netflow-agent: totals: ${ledgerLine(t)}\n`;
  if (ledger.rejected > 0) report += `netflow-agent: totals: ${ledger.rejected} invalid requests refused\n`;
  writeStderr(report);
}
