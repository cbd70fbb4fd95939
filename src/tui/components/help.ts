/** The help screen: every key, in place of the table until `?` or Esc. */
import type { Style } from "./style.ts";
import { fit, lead } from "./text-cell.ts";

export const HELP_LINES: [string, string][] = [
  ["< >  ← →", "sort by the previous / next column"],
  ["1 2 3", "sort by the 2 s / 10 s / 40 s rate"],
  ["b p l t d", "sort by total bytes / packets / DNS latency / TCP RTT / dropped packets (DNS, RTT, DROPS show while a row has one)"],
  ["r", "reverse the sort order"],
  ["g  G", "group by: flow → host pair → source → destination → port → interface → protocol → process → container (G: back)"],
  ["o", "group by process (pid and command), again: by container (else cgroup); needs run --enable-process"],
  ["/", "filter as you type: words (all must match) in an address or name, a port, an interface, a protocol, in/out, a process's command, cgroup or container"],
  ["", "  or one field: pid:4242  comm:nginx  cgroup:/system.slice  container:3f2a"],
  ["", "  or DNS, RTT, drops: dropped  drop:netfilter  rcode:nxdomain  dns:example.com  dns>50  rtt>100  rtt<5 (ms)"],
  ["Enter  Esc", "while filtering: keep the filter / clear it"],
  ["space", "pause: the view stops changing (flows are still counted)"],
  ["↑ ↓ PgUp PgDn Home End", "select a row: its details show below the table"],
  ["Esc", "close help, then clear the selection, then the filter"],
  ["n", "resolve addresses to names (reverse DNS, in the background, cached)"],
  ["u", "rates and totals in bytes or bits"],
  ["?  h", "this help"],
  ["q  Ctrl-C", "quit (everything the view attached is detached)"],
];

export function renderHelp(width: number, height: number, style: Style): string[] {
  const keyWidth = Math.max(...HELP_LINES.map(([k]) => k.length)) + 2;
  const lines = [style.heading(fit(" keys", width)), fit("", width)];
  for (const [key, what] of HELP_LINES) lines.push(lead(fit("  " + key, keyWidth + 2), what, width, style.key));
  return lines.slice(0, height);
}
