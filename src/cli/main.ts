#!/usr/bin/env bun
/** The command line: commander wiring only; each command lives in its own file. */
import { Command, CommanderError } from "commander";
import { AGENT_VERSION } from "../version.ts";
import { exitCodeFor, reportFailure } from "./process-exit.ts";
import { registerCollect } from "./collect-command.ts";
import { registerRun } from "./run-command.ts";
import { registerTop } from "./top-command.ts";
import { registerVersion } from "./version-command.ts";

export function buildProgram(): Command {
  const program = new Command("netflow-agent")
    .description("eBPF network-flow exporter: per-flow packets and bytes at every interface, aggregated in the kernel")
    .version(AGENT_VERSION, "-V, --version", "print the version")
    .showSuggestionAfterError()
    .configureOutput({ outputError: (text, write) => write(`netflow-agent: ${text}`) })
    .exitOverride();
  registerRun(program);
  registerVersion(program);
  registerCollect(program);
  registerTop(program);
  program.commands.forEach((c) => c.exitOverride().configureOutput({ outputError: (text, write) => write(`netflow-agent: ${text}`) }));
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander printed its one line already; help and version are not errors.
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
      return 2;
    }
    reportFailure(error);
    return exitCodeFor(error);
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
