/**
 * The error of a value the user gave (a flag, a NETFLOW_* variable, an
 * address to listen on): its message names the flag, the value and what is
 * allowed. The command line turns it into one line and exit code 2.
 *
 * It lives here, below every layer, because validation happens where the
 * value is understood (src/net parses addresses, src/agent interface
 * patterns) and those modules must not import from src/cli.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}
