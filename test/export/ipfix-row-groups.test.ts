/** The encoder's row grouping: by sampling rate, then by template (drops twins included), stable, nothing lost. */
import { expect, test } from "bun:test";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { FlowRowGroups } from "../../src/export/ipfix-row-groups.ts";
import { DROPS_TEMPLATES, FLOW_TEMPLATES, RECORD_TEMPLATES, templateIndex } from "../../src/export/ipfix-templates.ts";
import { randomFlows } from "../api/flow-fixtures.ts";

test("rows by rate, each rate's rows by template (stable); unsampled (0 or 1) as rate 1", () => {
  const records = randomFlows(200, 3).map((r, i) => ({ ...r, sampling: [0, 1, 10, 1, 100, 7][i % 6]! }));
  const flows = FlowColumns.fromRecords(records);
  const groups = new FlowRowGroups(FLOW_TEMPLATES.length);
  expect(groups.classify(flows)).toEqual([7, 10, 100]);
  const seen: number[] = [];
  for (const rate of [1, 7, 10, 100]) {
    const count = groups.group(flows.count, rate);
    const rows = [...groups.order.subarray(0, count)];
    expect(rows.every((i) => flows.sampling(i) === rate)).toBe(true);
    const kinds = rows.map((i) => templateIndex(flows.keys, flows.metrics, i));
    expect(kinds).toEqual([...kinds].sort((x, y) => x - y));
    for (let t = 0; t < FLOW_TEMPLATES.length; t++) {
      const of = rows.slice(groups.firstOfTemplate[t], groups.firstOfTemplate[t + 1]);
      expect(of).toEqual([...of].sort((x, y) => x - y)); // stable: batch order within a template
      expect(of.every((i) => templateIndex(flows.keys, flows.metrics, i) === t)).toBe(true);
    }
    seen.push(...rows);
  }
  expect(seen.sort((x, y) => x - y)).toEqual([...Array(200).keys()]);
  // An unsampled batch: no rate above 1.
  expect(groups.classify(FlowColumns.fromRecords(randomFlows(10, 4)))).toEqual([]);
});

test("an IP row with drops goes to its template's \"+ drops\" twin (RECORD_TEMPLATES); non-IP rows keep theirs; dropRows counts them", () => {
  const drops = { packets: 1, bytes: 60, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: 0, tcpFlags: 0 };
  const records = randomFlows(300, 8).map((r, i) => (i % 3 === 0 ? { ...r, drops } : r));
  const flows = FlowColumns.fromRecords(records);
  const groups = new FlowRowGroups(RECORD_TEMPLATES.length);
  expect(groups.classify(flows)).toEqual([]);
  const ip = (i: number) => templateIndex(flows.keys, flows.metrics, i) < DROPS_TEMPLATES.length;
  const withDrops = records.filter((r, i) => r.drops && ip(i)).length;
  expect(withDrops).toBeGreaterThan(50);
  expect(groups.dropRows).toBe(withDrops);
  const count = groups.group(flows.count, 1);
  expect(count).toBe(300);
  for (let t = 0; t < RECORD_TEMPLATES.length; t++) {
    for (const i of groups.order.subarray(groups.firstOfTemplate[t], groups.firstOfTemplate[t + 1])) {
      const base = templateIndex(flows.keys, flows.metrics, i);
      expect(t).toBe(records[i]!.drops && ip(i) ? FLOW_TEMPLATES.length + base : base);
    }
  }
  // The next batch without drops: none counted.
  groups.classify(FlowColumns.fromRecords(randomFlows(10, 4)));
  expect(groups.dropRows).toBe(0);
});
