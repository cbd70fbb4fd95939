/** Where `collect` writes its JSON lines: stdout, or a file it appends to. */
import { closeSync, openSync, writeSync } from "node:fs";
import { stdoutWriter, type LineWriter } from "../export/exporter.ts";

export interface FlowOutput extends Disposable {
  write: LineWriter;
}

/** Synchronous appends: a batch is on disk before its Export call is acknowledged. */
export function openFlowOutput(path: string | undefined): FlowOutput {
  if (!path) return { write: stdoutWriter, [Symbol.dispose]() {} };
  let fd: number;
  try {
    fd = openSync(path, "a");
  } catch (error) {
    throw new Error(`opening --output-file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  return {
    write(text) {
      const bytes = Buffer.from(text);
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
    },
    [Symbol.dispose]: () => closeSync(fd),
  };
}
