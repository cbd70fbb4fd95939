/**
 * --interfaces / --exclude-interfaces: comma-separated interface names and
 * /regex/ patterns. An interface is watched when it matches the include list
 * (or the list is empty) and matches no exclude pattern.
 *
 * A /regex/ ends at its closing slash the way a JavaScript regular expression
 * literal does (a slash after a backslash or inside [...] does not close it),
 * so commas inside it do not split the list: `/^en(p|s)[0-9]{1,3}/` is one
 * pattern. Every error names the flag it came from.
 */
import { ConfigError } from "../config-error.ts";

export type InterfaceMatcher = (name: string) => boolean;

/** A bad --interfaces or --exclude-interfaces value: exit 2 like every other bad flag. */
export class InterfacePatternError extends ConfigError {}

const INCLUDE_FLAG = "--interfaces";
const EXCLUDE_FLAG = "--exclude-interfaces";

/** Index of the slash that closes the /regex/ opened at `open`, or -1 when none does. */
function regexEnd(text: string, open: number): number {
  let inClass = false;
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "/") return i;
  }
  return -1;
}

/** The entries of a list, trimmed, empty ones left out; a /regex/ keeps its slashes. */
export function splitInterfaceList(flag: string, list: string): string[] {
  const entries: string[] = [];
  const skipSpaces = (i: number) => {
    while (i < list.length && /\s/.test(list[i]!)) i++;
    return i;
  };
  let i = 0;
  while (i < list.length) {
    i = skipSpaces(i);
    if (list[i] === "/") {
      const end = regexEnd(list, i);
      if (end < 0)
        throw new InterfacePatternError(`${flag}: "${list.slice(i)}" has no closing "/" (a "/" after "\\" or inside [...] does not end a /regex/)`);
      const pattern = list.slice(i, end + 1);
      entries.push(pattern);
      i = skipSpaces(end + 1);
      if (i < list.length && list[i] !== ",")
        throw new InterfacePatternError(`${flag}: "${list.slice(i)}" follows ${pattern}; separate entries with "," (regex flags are not supported)`);
      i++;
    } else {
      const comma = list.indexOf(",", i);
      const end = comma < 0 ? list.length : comma;
      const name = list.slice(i, end).trim();
      if (name.length > 0) entries.push(name);
      i = end + 1;
    }
  }
  return entries;
}

function parsePattern(flag: string, pattern: string): InterfaceMatcher {
  if (pattern.startsWith("/")) {
    const source = pattern.slice(1, -1);
    if (source.length === 0) throw new InterfacePatternError(`${flag}: // matches every interface; leave ${flag} out for that`);
    let re: RegExp;
    try {
      re = new RegExp(source);
    } catch (error) {
      const why = (error as Error).message.replace(/^Invalid regular expression: /, "");
      throw new InterfacePatternError(`${flag}: ${pattern} is not a valid regular expression (${why})`);
    }
    return (name) => re.test(name);
  }
  if (!/^[^\s/]{1,15}$/.test(pattern))
    throw new InterfacePatternError(`${flag}: "${pattern}" is not an interface name (1-15 characters, no spaces or slashes; use /regex/ for patterns)`);
  return (name) => name === pattern;
}

function parseList(flag: string, list: string | undefined): InterfaceMatcher[] {
  if (!list) return [];
  return splitInterfaceList(flag, list).map((pattern) => parsePattern(flag, pattern));
}

/** Throws InterfacePatternError (naming the flag) for a bad entry in either list. */
export function interfaceFilter(include: string | undefined, exclude: string | undefined): InterfaceMatcher {
  const inc = parseList(INCLUDE_FLAG, include);
  const exc = parseList(EXCLUDE_FLAG, exclude);
  return (name) => (inc.length === 0 || inc.some((m) => m(name))) && !exc.some((m) => m(name));
}

/** The selection as the user wrote it, for messages: `--interfaces '/^en/' --exclude-interfaces 'eno1'`. */
export function selectionText(include: string | undefined, exclude: string | undefined): string {
  const parts: string[] = [];
  if (include) parts.push(`${INCLUDE_FLAG} '${include}'`);
  if (exclude) parts.push(`${EXCLUDE_FLAG} '${exclude}'`);
  return parts.length > 0 ? parts.join(" ") : "the selection (every interface)";
}
