import { describe, expect, test } from "bun:test";
import { applyAction, initialViewState, type Action, type ViewState } from "../../../src/tui/model/view-state.ts";

const apply = (state: ViewState, ...actions: Action[]) => actions.reduce((s, a) => applyAction(s, a, ["r1", "r2", "r3"], 2), state);

describe("view state", () => {
  test("defaults: flows sorted by the 2 s rate, bytes, no names, nothing selected", () => {
    expect(initialViewState()).toEqual({
      grouping: "flow", sort: "2s", reverse: false, filter: "", editingFilter: false, paused: false,
      units: "bytes", resolveNames: false, help: false, selection: { key: undefined, index: 0 }, quit: false,
    });
  });

  test("an initial sort column the grouping does not show maps to its equivalent", () => {
    expect(initialViewState({ grouping: "port", sort: "source" }).sort).toBe("group");
  });

  test("sort steps walk the grouping's columns and wrap; reverse toggles", () => {
    const s = initialViewState();
    expect(apply(s, { type: "sort-step", by: 1 }).sort).toBe("10s");
    expect(apply(s, { type: "sort-step", by: -1 }, { type: "sort-step", by: -1 }).sort).toBe("source");
    expect(apply({ ...s, sort: "flags" }, { type: "sort-step", by: 1 }).sort).toBe("interface");
    expect(apply(s, { type: "sort-by", column: "bytes" }, { type: "sort-reverse" })).toMatchObject({ sort: "bytes", reverse: true });
  });

  test("group steps cycle through every grouping and clear the selection", () => {
    let s = apply(initialViewState({ sort: "source" }), { type: "select", move: "down" });
    expect(s.selection.key).toBe("r1");
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) {
      s = apply(s, { type: "group-step", by: 1 });
      seen.push(s.grouping);
    }
    expect(seen).toEqual(["host-pair", "source", "destination", "port", "interface", "protocol", "process", "container", "flow"]);
    expect(s.selection.key).toBeUndefined();
    // source is not a column of the group views: the sort moved to the group column, and stays there.
    expect(s.sort).toBe("source");
    expect(apply(initialViewState({ sort: "source" }), { type: "group-step", by: -1 })).toMatchObject({ grouping: "container", sort: "group" });
  });

  test("filter typing, backspace, accept and cancel", () => {
    const typed = apply(initialViewState(), { type: "filter-start" }, { type: "filter-type", text: "u" }, { type: "filter-type", text: "dx" }, { type: "filter-backspace" });
    expect(typed).toMatchObject({ editingFilter: true, filter: "ud" });
    expect(apply(typed, { type: "filter-accept" })).toMatchObject({ editingFilter: false, filter: "ud" });
    expect(apply(typed, { type: "filter-cancel" })).toMatchObject({ editingFilter: false, filter: "" });
  });

  test("escape closes help, then the selection, then the filter", () => {
    const s = { ...initialViewState({ filter: "udp" }), help: true, selection: { key: "r2", index: 1 } };
    const once = apply(s, { type: "escape" });
    expect(once).toMatchObject({ help: false, filter: "udp", selection: { key: "r2" } });
    const twice = apply(once, { type: "escape" });
    expect(twice).toMatchObject({ filter: "udp", selection: { key: undefined } });
    expect(apply(twice, { type: "escape" }).filter).toBe("");
  });

  test("toggles and quit", () => {
    const s = apply(initialViewState(), { type: "pause-toggle" }, { type: "names-toggle" }, { type: "units-toggle" }, { type: "help-toggle" });
    expect(s).toMatchObject({ paused: true, resolveNames: true, units: "bits", help: true, quit: false });
    expect(apply(s, { type: "pause-toggle" }, { type: "units-toggle" }, { type: "quit" })).toMatchObject({ paused: false, units: "bytes", quit: true });
  });

  test("selection moves use the rows shown and the page size", () => {
    const s = apply(initialViewState(), { type: "select", move: "down" }, { type: "select", move: "page-down" });
    expect(s.selection).toEqual({ key: "r3", index: 2 });
  });
});
