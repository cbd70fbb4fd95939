#!/usr/bin/env bun
/** The command line: commander wiring only; each command lives in its own file. */
import { Command, CommanderError, Help, type OutputConfiguration } from "commander";
import { AGENT_VERSION } from "../version.ts";
import { exitCodeFor, reportFailure } from "./process-exit.ts";
import { registerCollect } from "./collect-command.ts";
import { registerRun } from "./run-command.ts";
import { registerTop } from "./top-command.ts";
import { registerVersion } from "./version-command.ts";

/**
 * Help is wrapped once, by commander, to the terminal's width (COLUMNS when
 * the output is not a terminal, as `ls` does; 80 without either).
 */
function helpWidth(stream: NodeJS.WriteStream): number {
  if (stream.isTTY && stream.columns > 0) return stream.columns;
  const columns = Number.parseInt(process.env.COLUMNS ?? "", 10);
  return columns > 0 ? columns : 80;
}

const output: OutputConfiguration = {
  outputError: (text, write) => write(`netflow-agent: ${text}`),
  getOutHelpWidth: () => helpWidth(process.stdout),
  getErrHelpWidth: () => helpWidth(process.stderr),
};

/**
 * Descriptions are written as paragraphs: a single "\n" in one is only where
 * its source line was broken and becomes a space (commander would otherwise
 * keep that break and wrap again around it); a blank line separates paragraphs.
 */
export function asParagraphs(text: string): string {
  return text.replace(/([^\n])\n(?=[^\n])/g, "$1 ");
}

const STACKED_INDENT = "      ";

/**
 * One help layout for every command: paragraphs; defaults as a user types
 * them (commander quotes strings: `(default: "stdout")`); where the
 * terminal is too narrow for commander to wrap beside the flags, descriptions
 * go under them.
 */
function configureHelpLayout(command: Command) {
  for (const option of command.options)
    if (typeof option.defaultValue === "string" && option.defaultValueDescription === undefined) option.defaultValueDescription = option.defaultValue;
  const base = command.createHelp();
  command.configureHelp({
    commandDescription: (cmd) => asParagraphs(base.commandDescription(cmd)),
    optionDescription: (option) => asParagraphs(base.optionDescription(option)),
    formatItem(term, termWidth, description, helper) {
      const width = helper.helpWidth ?? 80;
      // commander's layout: 2 spaces, the flags, 2 spaces, the description; below minWidthToWrap columns it stops wrapping.
      if (!description || width - termWidth - 4 >= helper.minWidthToWrap) return Help.prototype.formatItem.call(helper, term, termWidth, description, helper);
      const lines = helper.boxWrap(description, Math.max(width - STACKED_INDENT.length, helper.minWidthToWrap)).split("\n");
      return [`  ${term}`, ...lines.map((line) => STACKED_INDENT + line)].join("\n");
    },
  });
}

export function buildProgram(): Command {
  const program = new Command("netflow-agent")
    .description("eBPF network-flow exporter: per-flow packets and bytes at every interface, aggregated in the kernel")
    .version(AGENT_VERSION, "-V, --version", "print the version")
    .showSuggestionAfterError()
    .configureOutput(output)
    .exitOverride();
  registerRun(program);
  registerVersion(program);
  registerCollect(program);
  registerTop(program);
  for (const command of [program, ...program.commands]) {
    command.exitOverride().configureOutput(output);
    configureHelpLayout(command);
  }
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
