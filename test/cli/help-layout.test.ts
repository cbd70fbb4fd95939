/**
 * `--help` as a user reads it at a given terminal width (COLUMNS, stdout a
 * pipe): wrapped once, to that width; no line broken short where the next
 * word would have fitted (the mark of a source line break wrapped again);
 * defaults as typed, not as JSON strings.
 */
import { describe, expect, test } from "bun:test";
import { cliPath } from "../helpers/agent-process.ts";

const helpTexts = new Map<string, Promise<string>>();

/** `netflow-agent <args> --help` with COLUMNS=columns, run once per combination. */
function help(args: string[], columns: number): Promise<string> {
  const key = `${args.join(" ")}@${columns}`;
  if (!helpTexts.has(key)) helpTexts.set(key, runHelp(args, columns));
  return helpTexts.get(key)!;
}

async function runHelp(args: string[], columns: number): Promise<string> {
  const proc = Bun.spawn([process.execPath, cliPath, ...args, "--help"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, COLUMNS: String(columns) } });
  const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  return stdout;
}

/** Characters as a terminal counts columns (the help has no wide or combining characters). */
const columnsOf = (line: string) => [...line].length;

/**
 * Pairs of lines where the second continues the first's text: paragraph
 * lines (no indent) after a paragraph line, and an option's indented
 * continuation after its previous line, unless that line is the flags alone
 * (the narrow layout puts the description under them).
 */
function continuations(text: string): [string, string][] {
  const lines = text.split("\n");
  const pairs: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const [before, line] = [lines[i - 1]!, lines[i]!];
    if (before.trim() === "" || line.trim() === "") continue;
    const flagsAlone = before.startsWith("  -") && !before.trim().includes("  ");
    const paragraph = !/^\s/.test(before) && !/^\s/.test(line) && !before.startsWith("Usage:");
    if (paragraph || (line.startsWith("   ") && !flagsAlone)) pairs.push([before, line]);
  }
  return pairs;
}

describe.each([
  ["run", 80],
  ["run", 100],
  ["run", 60],
  ["top", 80],
  ["top", 72],
  ["collect", 80],
] as const)("%s --help at %d columns", (command, columns) => {
  test("no line is wider than the terminal", async () => {
    const text = await help([command], columns);
    const wide = text.split("\n").filter((line) => columnsOf(line) > columns);
    expect(wide).toEqual([]);
  });

  test("wrapped once: every line break is where the next word would not have fitted", async () => {
    const text = await help([command], columns);
    const pairs = continuations(text);
    expect(pairs.length).toBeGreaterThan(5);
    const shortBreaks = pairs.filter(([before, line]) => columnsOf(before) + 1 + columnsOf(line.trim().split(" ")[0]!) <= columns);
    expect(shortBreaks).toEqual([]);
  });

  test("defaults print as typed, unquoted", async () => {
    const text = await help([command], columns);
    expect(text).not.toContain('(default: "');
    expect(text).not.toContain('default: "');
  });
});

test("the defaults a user sees, flattened from the wrapping", async () => {
  const flat = (text: string) => text.replace(/\s+/g, " ");
  const run = flat(await help(["run"], 200));
  for (const shown of ["(default: stdout, env: NETFLOW_EXPORT)", "(default: auto, env: NETFLOW_ATTACH_MODE)", "(default: 5s, env: NETFLOW_CACHE_ACTIVE_TIMEOUT)", "(default: 127.0.0.1:9990, env: NETFLOW_API)"])
    expect(run).toContain(shown);
  const top = flat(await help(["top"], 200));
  for (const shown of ["(default: 1s)", "(default: 2s)", "(default: flow)", "(default: bytes)"]) expect(top).toContain(shown);
});

test("a wide terminal gets each paragraph on one line", async () => {
  const text = await help(["top"], 400);
  expect(text).toContain(
    "\nShow flows as they happen: rates over 2 s / 10 s / 40 s, totals, sorted, grouped and filtered as you type. Without --connect it loads the kernel side itself (root) and detaches everything on exit; --enable-process, --enable-dns, --enable-rtt and --enable-drops turn on what its flows carry, as they do for `run`.\n\nKeys: q quit",
  );
});
