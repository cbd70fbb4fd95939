/** Exit codes and the one-line error a user sees. 2: bad usage or configuration; 1: runtime failure. */
import { BpfError } from "../bpf/errors.ts";
import type { Logger } from "../log.ts";
import { ConfigError } from "../config-error.ts";
import { writeStderr } from "../write-sync.ts";

export function exitCodeFor(error: unknown): number {
  return error instanceof ConfigError ? 2 : 1;
}

export function reportFailure(error: unknown, log?: Logger) {
  const message = error instanceof Error ? error.message : String(error);
  writeStderr(`netflow-agent: error: ${message}\n`);
  if (error instanceof BpfError && error.details.length > 0 && log?.level === "debug")
    for (const line of error.details) writeStderr(`  ${line}\n`);
  else if (error instanceof BpfError && error.details.length > 0)
    writeStderr(`  (run with --log-level debug for the verifier's log)\n`);
  if (!(error instanceof ConfigError) && !(error instanceof BpfError) && log?.level === "debug" && error instanceof Error)
    writeStderr(`${error.stack}\n`);
}

export const secondSignalLine = (signal: NodeJS.Signals) => `netflow-agent: ${signal} again: exiting without a clean stop\n`;

/**
 * The first of `signals` calls `first` (a clean stop: detach, flush, restore);
 * another one while that runs calls `again`, which exits at once (`run` passes
 * one that does not wait for a stalled stderr).
 */
export function onStopSignals(
  first: (signal: NodeJS.Signals) => void,
  signals: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM"],
  again: (signal: NodeJS.Signals) => void = (signal) => {
    writeStderr(secondSignalLine(signal));
    process.exit(130);
  },
) {
  let seen = false;
  const handler = (signal: NodeJS.Signals) => {
    if (seen) return again(signal);
    seen = true;
    first(signal);
  };
  for (const signal of signals) process.on(signal, handler);
}

/** Resolves with the first SIGINT/SIGTERM; a second one while shutting down exits at once. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => onStopSignals(resolve));
}
