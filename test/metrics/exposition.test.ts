/** The exposition writer: the text format 0.0.4 to the character. */
import { describe, expect, test } from "bun:test";
import { escapeHelp, escapeLabelValue, Exposition, formatValue } from "../../src/metrics/exposition.ts";
import { Histogram } from "../../src/metrics/histogram.ts";

describe("escaping", () => {
  test("label values: backslash, double quote and newline; nothing else", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeLabelValue("tab\there, 'quotes', {braces}=,")).toBe("tab\there, 'quotes', {braces}=,");
    expect(escapeLabelValue("")).toBe("");
  });

  test("HELP text: backslash and newline; double quotes stay", () => {
    expect(escapeHelp('one\\two\n"three"')).toBe('one\\\\two\\n"three"');
  });

  test("values: integers exactly, fractions, NaN and infinities as Prometheus spells them", () => {
    expect([0, 1027, 2 ** 53, 0.25, -1.5, NaN, Infinity, -Infinity].map(formatValue)).toEqual(["0", "1027", "9007199254740992", "0.25", "-1.5", "NaN", "+Inf", "-Inf"]);
  });
});

test("counters and gauges: HELP, TYPE, then the samples with their labels in order", () => {
  const text = new Exposition()
    .counter("netflow_agent_packets_total", "Packets.\nAll of them.", [
      { labels: { interface: 'we"ird\\if\n', direction: "ingress" }, value: 5 },
      { labels: { interface: "eth0", direction: "egress" }, value: 7 },
    ])
    .gauge("netflow_agent_api_watchers", "Watchers.", 2)
    .gauge("netflow_agent_empty", "A family with no sample yet.", [])
    .text();
  expect(text).toBe(
    [
      "# HELP netflow_agent_packets_total Packets.\\nAll of them.",
      "# TYPE netflow_agent_packets_total counter",
      'netflow_agent_packets_total{interface="we\\"ird\\\\if\\n",direction="ingress"} 5',
      'netflow_agent_packets_total{interface="eth0",direction="egress"} 7',
      "# HELP netflow_agent_api_watchers Watchers.",
      "# TYPE netflow_agent_api_watchers gauge",
      "netflow_agent_api_watchers 2",
      "# HELP netflow_agent_empty A family with no sample yet.",
      "# TYPE netflow_agent_empty gauge",
      "",
    ].join("\n"),
  );
});

test("a histogram: buckets cumulative, le=\"+Inf\" equal to _count, then _sum and _count", () => {
  const h = new Histogram([0.01, 0.1, 1]);
  // Upper bounds are inclusive: 0.01 goes in le="0.01".
  for (const v of [0.004, 0.01, 0.05, 0.5, 0.7, 3]) h.observe(v);
  expect(h.count).toBe(6);
  const text = new Exposition().histogram("netflow_agent_eviction_duration_seconds", "Eviction time.", [h.series({ sink: "x" })]).text();
  expect(text).toBe(
    [
      "# HELP netflow_agent_eviction_duration_seconds Eviction time.",
      "# TYPE netflow_agent_eviction_duration_seconds histogram",
      'netflow_agent_eviction_duration_seconds_bucket{sink="x",le="0.01"} 2',
      'netflow_agent_eviction_duration_seconds_bucket{sink="x",le="0.1"} 3',
      'netflow_agent_eviction_duration_seconds_bucket{sink="x",le="1"} 5',
      'netflow_agent_eviction_duration_seconds_bucket{sink="x",le="+Inf"} 6',
      'netflow_agent_eviction_duration_seconds_sum{sink="x"} 4.264',
      'netflow_agent_eviction_duration_seconds_count{sink="x"} 6',
      "",
    ].join("\n"),
  );
});

test("an empty histogram still has every bucket, at 0", () => {
  const text = new Exposition().histogram("h_seconds", "h.", [new Histogram([1, 2]).series()]).text();
  expect(text.split("\n").slice(2)).toEqual(['h_seconds_bucket{le="1"} 0', 'h_seconds_bucket{le="2"} 0', 'h_seconds_bucket{le="+Inf"} 0', "h_seconds_sum 0", "h_seconds_count 0", ""]);
});

test("programming errors are refused, naming what is wrong", () => {
  expect(() => new Exposition().counter("packets", "x", 1)).toThrow("counter packets must end in _total");
  expect(() => new Exposition().gauge("9lives", "x", 1)).toThrow('metric name "9lives" is not a valid Prometheus metric name');
  expect(() => new Exposition().gauge("g", "x", [{ labels: { "bad-name": "v" }, value: 1 }])).toThrow('label name "bad-name" is not a valid Prometheus label name');
  expect(() => new Exposition().gauge("g", "x", [{ labels: { __name__: "v" }, value: 1 }])).toThrow("label name");
  expect(() => new Exposition().gauge("g", "x", 1).gauge("g", "y", 2)).toThrow("metric g written twice");
  expect(() => new Exposition().histogram("h", "x", [{ labels: { le: "1" }, bounds: [1], counts: [0, 0], sum: 0 }])).toThrow('"le" is the bucket label');
  expect(() => new Exposition().histogram("h", "x", [{ bounds: [1, 2], counts: [0, 0], sum: 0 }])).toThrow("2 bounds need 3 counts");
  expect(() => new Histogram([2, 1])).toThrow("histogram bounds must ascend");
});
