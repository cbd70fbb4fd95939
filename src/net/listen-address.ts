/** "host:port" for listeners and targets: IPv4, [IPv6] or a name, port 0-65535 (0: any free port). */
import { ConfigError } from "../config-error.ts";

export interface HostPort {
  host: string;
  port: number;
}

/** Parses `text` for `flag`; a ConfigError names the flag, the value and the expected form. */
export function parseHostPort(flag: string, text: string): HostPort {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535)
    throw new ConfigError(`${flag} "${text}" must be host:port with port 0-65535 (examples: 127.0.0.1:9990, [::1]:9990)`);
  return { host: match[1] ?? match[2]!, port };
}

/** "127.0.0.1:9990", "[::1]:9990": the form parseHostPort reads back. */
export function hostPortText({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
