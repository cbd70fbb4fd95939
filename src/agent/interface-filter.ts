/**
 * --interfaces / --exclude-interfaces: comma-separated names or /regex/.
 * An interface is watched when it matches the include list (or the list is
 * empty) and matches no exclude pattern.
 */
export type InterfaceMatcher = (name: string) => boolean;

export class InterfacePatternError extends Error {}

function parsePattern(pattern: string): InterfaceMatcher {
  if (pattern.length > 1 && pattern.startsWith("/") && pattern.endsWith("/")) {
    let re: RegExp;
    try {
      re = new RegExp(pattern.slice(1, -1));
    } catch (error) {
      throw new InterfacePatternError(`interface pattern ${pattern} is not a valid regular expression: ${(error as Error).message}`);
    }
    return (name) => re.test(name);
  }
  if (!/^[^\s/]{1,15}$/.test(pattern))
    throw new InterfacePatternError(`interface name "${pattern}" is not valid (1-15 characters, no spaces or slashes; use /regex/ for patterns)`);
  return (name) => name === pattern;
}

function parseList(list: string | undefined): InterfaceMatcher[] {
  if (!list) return [];
  return list
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map(parsePattern);
}

export function interfaceFilter(include: string | undefined, exclude: string | undefined): InterfaceMatcher {
  const inc = parseList(include);
  const exc = parseList(exclude);
  return (name) => (inc.length === 0 || inc.some((m) => m(name))) && !exc.some((m) => m(name));
}
