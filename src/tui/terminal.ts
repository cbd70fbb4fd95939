/**
 * The one owner of the terminal. Opening it enters raw keyboard mode, the
 * alternate screen, hides the cursor and turns off line wrap (a line longer
 * than the screen is cut, never wrapped into the next one); disposing
 * restores all four, once, synchronously (it also runs from `exit` and crash
 * handlers, where nothing asynchronous completes). Frames are written as
 * line diffs against the previous frame.
 */
import { writeAllSync } from "../write-sync.ts";
import { frameUpdate } from "./frame-diff.ts";

const ENTER = "\x1b[?1049h\x1b[?25l\x1b[?7l\x1b[H\x1b[2J";
const LEAVE = "\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l";

export interface TerminalStreams {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream & { fd?: number };
}

export class Terminal implements Disposable {
  private previous: string[] | undefined;
  private restored = false;
  private readonly onData: (data: Buffer | string) => void;
  private readonly onResize: () => void;
  private readonly restoreOnExit = () => this[Symbol.dispose]();
  private lastSize: string;

  /** Takes the terminal. `onInput` gets raw input; `onResize` runs when the size changed (SIGWINCH or 'resize'). */
  constructor(private readonly streams: TerminalStreams, onInput: (data: string) => void, onResize: () => void) {
    const { input, output } = streams;
    this.lastSize = this.sizeText();
    this.onData = (data) => onInput(typeof data === "string" ? data : data.toString("utf8"));
    this.onResize = () => {
      const size = this.sizeText();
      if (size === this.lastSize) return;
      this.lastSize = size;
      this.previous = undefined;
      onResize();
    };
    input.setRawMode?.(true);
    input.on("data", this.onData);
    input.resume();
    output.on("resize", this.onResize);
    process.on("SIGWINCH", this.onResize);
    process.on("exit", this.restoreOnExit);
    this.write(ENTER);
  }

  get columns(): number {
    return this.streams.output.columns || 80;
  }

  get rows(): number {
    return this.streams.output.rows || 24;
  }

  /** Writes what changed since the last frame. */
  draw(lines: string[]) {
    if (this.restored) return;
    const update = frameUpdate(this.previous, lines);
    this.previous = lines;
    if (update) this.write(update);
  }

  /** The next frame is drawn whole (after something else wrote to the screen). */
  invalidate() {
    this.previous = undefined;
  }

  [Symbol.dispose]() {
    if (this.restored) return;
    this.restored = true;
    const { input, output } = this.streams;
    input.off("data", this.onData);
    output.off("resize", this.onResize);
    process.off("SIGWINCH", this.onResize);
    process.off("exit", this.restoreOnExit);
    try {
      input.setRawMode?.(false);
    } catch {
      // stdin already closed: nothing to restore there.
    }
    input.pause();
    this.write(LEAVE);
  }

  private sizeText() {
    return `${this.columns}x${this.rows}`;
  }

  private write(text: string) {
    // Synchronous, so a frame is never interleaved with another and the restore completes before exit.
    // Every process on this terminal shares its file description, so another one can make it
    // non-blocking; it then answers EAGAIN while the terminal's reader is behind. writeAllSync
    // sleeps and retries then, where retrying at once would spin a CPU until the reader catches up.
    writeAllSync(this.streams.output.fd ?? 1, text);
  }
}
