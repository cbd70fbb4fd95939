/**
 * Whole writes to stdout/stderr that are done when the call returns.
 *
 * Bun's process.stdout.write() to a pipe buffers in the process and drops what
 * is still buffered at process.exit(), so the final eviction of `run | cat`
 * could be cut off. A blocking write is what a CLI's output should be: a slow
 * reader slows the writer down, nothing is lost, memory stays bounded.
 */
import { writeSync } from "node:fs";

/** The reader of stdout went away (EPIPE): `run | head -1`. */
export class OutputClosedError extends Error {
  override readonly name = "OutputClosedError";
}

const pause = new Int32Array(new SharedArrayBuffer(4));

export function writeAllSync(fd: number, text: string) {
  const bytes = Buffer.from(text);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        // A non-blocking descriptor with a full pipe: wait a moment for the reader.
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      if (code === "EPIPE") throw new OutputClosedError(`fd ${fd} closed by its reader (EPIPE)`);
      throw error;
    }
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
