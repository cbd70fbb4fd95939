/**
 * A real pipe (a FIFO in a temp dir) whose read end belongs to a child
 * process: `sleep` for a reader that never reads, `cat` for one that does,
 * `sh -c 'kill -STOP $$; exec cat'` for one that reads only once resumed.
 * Gives the test the write end as a plain blocking fd, as a shell gives it to
 * `run | reader`.
 */
import type { Subprocess } from "bun";
import { $ } from "bun";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class FifoPipe implements AsyncDisposable {
  private writeFdOpen = true;

  private constructor(
    private readonly dir: string,
    /** The write end: blocking, ours to write to and close. */
    readonly writeFd: number,
    readonly reader: Subprocess<number, "pipe", "inherit">,
  ) {}

  /** `readerCmd` gets the read end as its stdin; its stdout is piped to the test (`output()`). */
  static async create(readerCmd: string[]): Promise<FifoPipe> {
    const dir = mkdtempSync(join(tmpdir(), "netflow-fifo-"));
    const path = join(dir, "pipe");
    await $`mkfifo ${path}`;
    // Opening a FIFO blocks until the other end is open: a non-blocking read end first lets the
    // write end open at once; the child then gets its own blocking read end (the flags belong to
    // the open file description, so the child's stays blocking), and ours is closed.
    const probe = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeFd = openSync(path, constants.O_WRONLY);
    const readFd = openSync(path, constants.O_RDONLY);
    closeSync(probe);
    const reader = Bun.spawn(readerCmd, { stdin: readFd, stdout: "pipe", stderr: "inherit" });
    closeSync(readFd);
    return new FifoPipe(dir, writeFd, reader);
  }

  /** Closes the write end: the reader sees end of file once the pipe is drained. */
  closeWriteEnd() {
    if (!this.writeFdOpen) return;
    this.writeFdOpen = false;
    closeSync(this.writeFd);
  }

  /** Continues a reader that stopped itself (`sh -c 'kill -STOP $$; exec cat'`). */
  resume() {
    this.reader.kill("SIGCONT");
  }

  /** Everything the reader printed, once it has exited. */
  async output(): Promise<string> {
    return await new Response(this.reader.stdout).text();
  }

  async [Symbol.asyncDispose]() {
    this.closeWriteEnd();
    if (this.reader.exitCode === null) this.reader.kill("SIGKILL");
    await this.reader.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
