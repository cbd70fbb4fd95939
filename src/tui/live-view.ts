/**
 * The live view: batches from the source go into the flow table; every
 * interval, batch, key or resize draws a frame from the table and the view
 * state onto the terminal. Keys become actions through keys.ts and change the
 * state only through applyAction.
 *
 * Ownership: run() takes the terminal and restores it before it resolves;
 * the source belongs to the caller (started here, stopped by the caller).
 */
import { renderScreen, tableHeight } from "./components/screen.ts";
import type { Style } from "./components/style.ts";
import type { FlowSource } from "./flow-source.ts";
import { parseKeys } from "./key-input.ts";
import { actionForKey } from "./keys.ts";
import type { NameOf } from "./model/flow-filter.ts";
import { FlowTable, type FlowStat } from "./model/flow-table.ts";
import type { Row } from "./model/group-flows.ts";
import { resolveSelection, scrollTopFor } from "./model/selection.ts";
import { deriveRows, trafficTotals } from "./model/top-view.ts";
import { applyAction, type ViewState } from "./model/view-state.ts";
import { NameResolver, type ReverseLookup } from "./name-resolver.ts";
import { Terminal, type TerminalStreams } from "./terminal.ts";

export interface LiveViewOptions {
  source: FlowSource;
  state: ViewState;
  host: string;
  /** Wall-clock ms. */
  clock: () => number;
  lookup: ReverseLookup;
  style: Style;
  /** How often the frame is redrawn when nothing else happens, ms. */
  redrawMs: number;
  /** The latest warning logged while the view runs (the log cannot write over the screen). */
  lastMessage: () => string | undefined;
}

const noNames: NameOf = () => undefined;

export class LiveView {
  private readonly table: FlowTable;
  private readonly resolver: NameResolver;
  private state: ViewState;
  private rows: Row[] = [];
  private scrollTop = 0;
  /** The stats the view shows while paused, and their instant. */
  private frozen: { stats: FlowStat[]; nowMs: number } | undefined;
  private terminal: Terminal | undefined;
  private redrawQueued = false;
  private finish: () => void = () => {};

  constructor(private readonly options: LiveViewOptions) {
    this.table = new FlowTable(options.clock());
    this.state = options.state;
    this.resolver = new NameResolver(options.lookup, () => this.requestRedraw());
  }

  /** Shows the view until the user quits or quit() is called. */
  async run(streams: TerminalStreams): Promise<void> {
    const finished = new Promise<void>((resolve) => (this.finish = resolve));
    using terminal = new Terminal(streams, (data) => this.onInput(data), () => this.redraw());
    this.terminal = terminal;
    const unsubscribe = this.options.source.onBatch((batch) => {
      const since = this.options.source.status().countingSinceMs;
      if (since !== undefined) this.table.observeFrom(since);
      this.table.ingest(batch);
      this.requestRedraw();
    });
    const timer = setInterval(() => this.redraw(), this.options.redrawMs);
    try {
      this.redraw();
      await this.options.source.start();
      this.redraw();
      await finished;
    } finally {
      clearInterval(timer);
      unsubscribe();
      this.terminal = undefined;
    }
  }

  quit() {
    this.state = { ...this.state, quit: true };
    this.finish();
  }

  /** Gives the terminal back now (crash path); the view draws nothing after this. */
  releaseTerminal() {
    this.terminal?.[Symbol.dispose]();
    this.terminal = undefined;
  }

  private nameOf(): NameOf {
    return this.state.resolveNames ? this.resolver.nameOf : noNames;
  }

  private onInput(data: string) {
    for (const key of parseKeys(data)) {
      const action = actionForKey(key, this.state);
      if (!action) continue;
      if (action.type === "pause-toggle") {
        const now = this.options.clock();
        this.frozen = this.state.paused ? undefined : { stats: this.table.stats(now), nowMs: now };
      }
      const pageSize = Math.max(1, tableHeight(this.terminal?.rows ?? 24, this.rows, this.state, this.nameOf()) - 1);
      this.state = applyAction(this.state, action, this.rows.map((r) => r.key), pageSize);
      if (this.state.quit) {
        this.finish();
        return;
      }
    }
    this.redraw();
  }

  private requestRedraw() {
    if (this.redrawQueued) return;
    this.redrawQueued = true;
    setTimeout(() => {
      this.redrawQueued = false;
      this.redraw();
    }, 0);
  }

  private redraw() {
    const terminal = this.terminal;
    if (!terminal || this.state.quit) return;
    const now = this.options.clock();
    const stats = this.frozen?.stats ?? this.table.stats(now);
    const nameOf = this.nameOf();
    this.rows = deriveRows(stats, this.state, nameOf);
    const selection = resolveSelection(this.rows.map((r) => r.key), this.state.selection);
    this.state = { ...this.state, selection };
    const { columns: width, rows: height } = terminal;
    const visibleRows = tableHeight(height, this.rows, this.state, nameOf) - 1;
    this.scrollTop = scrollTopFor(selection.key === undefined ? undefined : selection.index, this.rows.length, visibleRows, this.scrollTop);
    const status = this.options.source.status();
    const header = {
      host: status.host ?? this.options.host,
      source: status.description,
      interfaces: status.interfaces,
      intervalMs: status.intervalMs,
      accounting: status.accounting,
      sampling: this.table.sampling,
      counters: this.table.counters,
      totals: trafficTotals(stats),
      shownRows: this.rows.length,
      nowMs: this.frozen?.nowMs ?? now,
      message: status.message ?? this.options.lastMessage(),
    };
    const frame = renderScreen({ header, rows: this.rows, state: this.state, nameOf, scrollTop: this.scrollTop }, width, height, this.options.style);
    terminal.draw(frame);
  }
}
