/**
 * Whole writes to a file descriptor that are done when the call returns.
 *
 * For short output whose reader is expected to read: the final error line,
 * `version`, `top`'s batch mode, `collect` (a batch is on disk before its
 * Export call is answered), other commands' log lines. A blocking write waits
 * for its reader, so `run` sends neither its flows nor its log lines through
 * here on the JS thread: both go to src/export/async-output.ts (`run | sleep`,
 * `run 2>&1 | sleep`), whose worker thread runs `writeWhole` below.
 *
 * Why not process.stdout.write(): Bun's buffers in the process and drops what
 * is still buffered at process.exit(), so the end of the output could be lost.
 */
import { writeSync } from "node:fs";

/** The reader of stdout went away (EPIPE): `run | head -1`. */
export class OutputClosedError extends Error {
  override readonly name = "OutputClosedError";
}

export type WriteSyncCall = (fd: number, bytes: Uint8Array, offset: number, length: number) => number;

/**
 * Writes all of `bytes`, retrying short writes. EAGAIN (the file description
 * was made non-blocking by someone else, as Bun does to a stdout pipe once
 * process.stdout is touched) waits 1, 2, 4 … 64 ms and retries: the fd offers
 * no readiness event without an event loop. Other errors are thrown as they
 * come (EPIPE included).
 *
 * Self-contained on purpose (no reference outside its parameters and JS
 * globals): async-output.ts runs its source text in a worker.
 */
export function writeWhole(fd: number, bytes: Uint8Array, write: WriteSyncCall, pause: Int32Array): void {
  let offset = 0;
  let waitMs = 1;
  while (offset < bytes.length) {
    try {
      offset += write(fd, bytes, offset, bytes.length - offset);
      waitMs = 1;
    } catch (error) {
      if ((error as { code?: string }).code !== "EAGAIN") throw error;
      Atomics.wait(pause, 0, 0, waitMs);
      waitMs = Math.min(waitMs * 2, 64);
    }
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Blocks until `text` is written; EPIPE becomes OutputClosedError. */
export function writeAllSync(fd: number, text: string | Uint8Array) {
  try {
    writeWhole(fd, typeof text === "string" ? Buffer.from(text) : text, writeSync, pause);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EPIPE") throw new OutputClosedError(`fd ${fd} closed by its reader (EPIPE)`);
    throw error;
  }
}

export const writeStdout = (text: string) => writeAllSync(1, text);
/** stderr: a reader that went away there is not worth failing for. */
export const writeStderr = (text: string) => {
  try {
    writeAllSync(2, text);
  } catch {
    // Nothing else to tell it to.
  }
};
