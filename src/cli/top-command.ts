/**
 * `netflow-agent top`: a live, top-style view of this host's flows (loading
 * the kernel side here, as root) or of a running agent's (--connect, through
 * its Watch API). `--once` prints one snapshot as text and exits.
 */
import { hostname } from "node:os";
import { Command, Option } from "commander";
import { createLogger, type Logger } from "../log.ts";
import { colorLevelFor, createStyle } from "../tui/components/style.ts";
import type { FlowSource } from "../tui/flow-source.ts";
import { LiveView } from "../tui/live-view.ts";
import { LocalFlowSource } from "../tui/local-flow-source.ts";
import { RemoteFlowSource } from "../tui/remote-flow-source.ts";
import { dnsReverse } from "../tui/name-resolver.ts";
import { takeSnapshot } from "../tui/take-snapshot.ts";
import { ConfigError } from "./parse-values.ts";
import { reportFailure, onStopSignals } from "./process-exit.ts";
import { writeStdout } from "../write-sync.ts";
import { enrichmentOptions, runOptions } from "./run-command.ts";
import { buildTopConfig, TOP_DEFAULTS, type TopConfig, type TopFlags } from "./top-config.ts";

const sharedWithRun = ["--interfaces", "--exclude-interfaces", "--attach-mode", "--cache-max-flows"];

export function registerTop(program: Command) {
  const command = program
    .command("top")
    .summary("live top-style view of the flows on this host (needs root) or of a running agent (--connect)")
    .description(
      [
        "Show flows as they happen: rates over 2 s / 10 s / 40 s, totals, sorted, grouped and filtered as you type. " +
          "Without --connect it loads the kernel side itself (root) and detaches everything on exit; " +
          "--enable-process, --enable-dns, --enable-rtt and --enable-drops turn on what its flows carry, as they do for `run`.",
        "Keys: q quit · ? help · </> sort · l t d sort by DNS latency/RTT/drops · r reverse · g group · o by process/container · / filter · space pause · ↑↓ select · n names · u units",
      ].join("\n\n"),
    )
    .addOption(new Option("--interval <duration>", "how often flows are collected (with --connect: the agent's own interval) and the screen updated (100ms to 60s)").default(TOP_DEFAULTS.interval))
    .addOption(new Option("--sort <column>", "initial sort: interface, direction, protocol, source, destination, group, flows, 2s, 10s, 40s, bytes, packets, dns (latency), rtt, drops, flags").default(TOP_DEFAULTS.sort))
    .addOption(new Option("--reverse", "reverse the initial sort order"))
    .addOption(new Option("--group <by>", "initial grouping: flow, host-pair, source, destination, port, interface, protocol, process, container").default(TOP_DEFAULTS.group))
    .addOption(new Option("--filter <words>", "initial filter: words that must all match an address, port, interface, protocol, in/out, a process (pid:N comm:x cgroup:/path container:id), or DNS, RTT and drops (dropped drop:reason rcode:name dns:name dns>ms rtt>ms)"))
    .addOption(new Option("--units <units>", "bytes or bits").default(TOP_DEFAULTS.units))
    .addOption(new Option("--resolve", "show reverse-DNS names for addresses (toggle with n)"))
    .addOption(new Option("--once", "collect for one interval, print one snapshot as text, exit (like top -b)"))
    .addOption(new Option("--connect <host:port>", "watch a running agent through its API instead of loading the kernel side (no root needed)"));
  for (const option of runOptions().filter((o) => sharedWithRun.includes(o.long ?? ""))) command.addOption(option);
  for (const option of enrichmentOptions()) command.addOption(option);
  command.action(async (flags: TopFlags) => {
    const commandLine = new Set(Object.keys(flags).filter((key) => command.getOptionValueSource(key) === "cli"));
    await runTop(buildTopConfig(flags, commandLine));
  });
}

/** `onCounting`: for a remote agent, called when the interval the view counts begins (its next eviction). */
async function openSource(config: TopConfig, log: Logger, onCounting?: () => void): Promise<FlowSource> {
  if (config.connect !== undefined) return RemoteFlowSource.connect(config.connect, { onCounting });
  return LocalFlowSource.open(config.agent, log);
}

/** SIGHUP too: closing the terminal must also detach and restore. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

async function runTop(config: TopConfig) {
  if (config.once) return runSnapshot(config);
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new ConfigError("top needs a terminal on stdin and stdout; use --once for a text snapshot");
  return runLive(config);
}

async function runSnapshot(config: TopConfig) {
  // What is being collected goes to stderr, so a script can start its traffic on cue.
  const info = createLogger("info");
  await using source = await openSource(config, createLogger("warn"), () => info.info("counting until the agent's next eviction"));
  // Interrupted before the snapshot: detach (tc filters would outlive the process), print nothing.
  onStopSignals(() => void source.stop().finally(() => process.exit(130)), STOP_SIGNALS);
  const { description, interfaces } = source.status();
  const what = config.connect === undefined ? `for ${config.intervalMs} ms` : "one full interval";
  info.info(`collecting ${what} from ${description}${interfaces.length > 0 ? ` (${interfaces.join(", ")})` : ""}`);
  const width = process.stdout.isTTY ? process.stdout.columns || 160 : 200;
  const style = createStyle(colorLevelFor(process.stdout));
  const snapshot = await takeSnapshot(source, { state: config.view, host: hostname(), clock: Date.now, lookup: dnsReverse(), style, width });
  writeStdout(snapshot);
}

async function runLive(config: TopConfig) {
  // The log cannot write over the screen: its latest warning is shown in the header instead.
  let lastMessage: string | undefined;
  const log = createLogger("warn", (line) => (lastMessage = line.replace(/^netflow-agent: /, "")));
  await using source = await openSource(config, log);
  const view = new LiveView({
    source,
    state: config.view,
    host: hostname(),
    clock: Date.now,
    lookup: dnsReverse(),
    style: createStyle(colorLevelFor(process.stdout)),
    redrawMs: Math.min(config.intervalMs, 1000),
    lastMessage: () => lastMessage,
  });
  const crash = (error: unknown) => {
    view.releaseTerminal();
    reportFailure(error);
    // Detach before exiting: a crash must not leave programs attached.
    void source.stop().finally(() => process.exit(1));
  };
  onStopSignals(() => view.quit(), STOP_SIGNALS);
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
  await view.run({ input: process.stdin, output: process.stdout });
}
