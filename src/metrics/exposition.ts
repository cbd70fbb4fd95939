/**
 * The Prometheus text exposition format, version 0.0.4 (what every Prometheus
 * scrapes; prometheus/docs content/docs/instrumenting/exposition_formats.md):
 * one family at a time, `# HELP` and `# TYPE` first, then its samples.
 *
 *   # HELP netflow_agent_packets_total Packets accounted…
 *   # TYPE netflow_agent_packets_total counter
 *   netflow_agent_packets_total{interface="eth0",direction="ingress"} 1027
 *
 * Label values escape backslash, double quote and newline; HELP text escapes
 * backslash and newline. Values are Go-style floats: NaN, +Inf, -Inf. A
 * histogram writes its buckets cumulative, ending with le="+Inf" (= _count),
 * then _sum and _count. Names are checked: a bad one is a programming error.
 *
 * Ownership: an Exposition collects text for one scrape; `text()` returns it.
 */

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

/** One histogram series: counts per bucket (not cumulative), upper bounds ascending, +Inf implied. */
export interface HistogramSeries {
  labels?: Labels;
  /** Upper bounds, ascending, finite. */
  bounds: readonly number[];
  /** Observations in each bucket (bounds[i-1], bounds[i]]; one more entry for (last bound, +Inf). */
  counts: readonly number[];
  sum: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value inside double quotes: \ → \\, " → \", newline → \n. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** HELP text: \ → \\, newline → \n (double quotes stay). */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** A sample value as Prometheus parses it: integers exactly, NaN, +Inf, -Inf. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(labels: Labels | undefined, extra?: [string, string]): string {
  const pairs: string[] = [];
  for (const [name, value] of Object.entries(labels ?? {})) {
    if (!LABEL_NAME.test(name) || name.startsWith("__")) throw new RangeError(`label name "${name}" is not a valid Prometheus label name`);
    pairs.push(`${name}="${escapeLabelValue(value)}"`);
  }
  if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

export class Exposition {
  private readonly lines: string[] = [];
  private readonly names = new Set<string>();

  counter(name: string, help: string, samples: number | readonly Sample[]): this {
    if (!name.endsWith("_total")) throw new RangeError(`counter ${name} must end in _total`);
    return this.family(name, help, "counter", samples);
  }

  gauge(name: string, help: string, samples: number | readonly Sample[]): this {
    return this.family(name, help, "gauge", samples);
  }

  histogram(name: string, help: string, series: readonly HistogramSeries[]): this {
    this.header(name, help, "histogram");
    for (const s of series) {
      if (s.counts.length !== s.bounds.length + 1) throw new RangeError(`histogram ${name}: ${s.bounds.length} bounds need ${s.bounds.length + 1} counts`);
      if ("le" in (s.labels ?? {})) throw new RangeError(`histogram ${name}: "le" is the bucket label`);
      let cumulative = 0;
      for (let i = 0; i < s.bounds.length; i++) {
        if (i > 0 && !(s.bounds[i]! > s.bounds[i - 1]!)) throw new RangeError(`histogram ${name}: bounds must ascend`);
        cumulative += s.counts[i]!;
        this.lines.push(`${name}_bucket${labelText(s.labels, ["le", formatValue(s.bounds[i]!)])} ${cumulative}`);
      }
      cumulative += s.counts[s.bounds.length]!;
      this.lines.push(`${name}_bucket${labelText(s.labels, ["le", "+Inf"])} ${cumulative}`);
      this.lines.push(`${name}_sum${labelText(s.labels)} ${formatValue(s.sum)}`);
      this.lines.push(`${name}_count${labelText(s.labels)} ${cumulative}`);
    }
    return this;
  }

  /** The exposition so far: every line ends with a newline. */
  text(): string {
    return this.lines.length === 0 ? "" : this.lines.join("\n") + "\n";
  }

  private family(name: string, help: string, type: "counter" | "gauge", samples: number | readonly Sample[]): this {
    this.header(name, help, type);
    for (const s of typeof samples === "number" ? [{ value: samples }] : samples) this.lines.push(`${name}${labelText(s.labels)} ${formatValue(s.value)}`);
    return this;
  }

  private header(name: string, help: string, type: string) {
    if (!METRIC_NAME.test(name)) throw new RangeError(`metric name "${name}" is not a valid Prometheus metric name`);
    if (this.names.has(name)) throw new RangeError(`metric ${name} written twice`);
    this.names.add(name);
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }
}
