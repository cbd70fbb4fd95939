/** Flag value parsers: each error names the flag, the value and what is allowed. */
import { ConfigError } from "../config-error.ts";

export { ConfigError };

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "5s", "500ms", "1m", "1h"; a bare number is seconds. */
export function parseDuration(flag: string, text: string, minMs: number, maxMs: number): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new ConfigError(`${flag} "${text}" is not a duration (examples: 500ms, 5s, 1m)`);
  const ms = Number(match[1]) * units[match[2] ?? "s"]!;
  if (ms < minMs || ms > maxMs) throw new ConfigError(`${flag} ${text} must be >= ${minMs}ms and <= ${maxMs}ms`);
  return ms;
}

export function parseInteger(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${flag} "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new ConfigError(`${flag} ${text} must be >= ${min} and <= ${max}`);
  return n;
}

export function parseChoice<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new ConfigError(`${flag} "${text}" must be one of: ${choices.join(", ")}`);
  return text as T;
}

/** A flag that is on or off: true/false (on/off, yes/no); the bare flag is true. */
export function parseSwitch(flag: string, value: string | boolean): boolean {
  if (typeof value === "boolean") return value;
  const text = value.trim().toLowerCase();
  if (["true", "on", "yes", "1"].includes(text)) return true;
  if (["false", "off", "no", "0"].includes(text)) return false;
  throw new ConfigError(`${flag} "${value}" must be true or false`);
}
