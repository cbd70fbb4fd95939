/** One-line log messages on stderr; stdout is left to the flow output. */
import { writeStderr } from "./write-sync.ts";
export type LogLevel = "error" | "warn" | "info" | "debug";
const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  level: LogLevel;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => writeStderr(l + "\n")): Logger {
  const logger: Logger = {
    level,
    error: (m) => emit("error", m),
    warn: (m) => emit("warn", m),
    info: (m) => emit("info", m),
    debug: (m) => emit("debug", m),
  };
  function emit(at: LogLevel, message: string) {
    if (rank[at] <= rank[logger.level]) write(`netflow-agent: ${at === "info" ? "" : at + ": "}${message}`);
  }
  return logger;
}
