/**
 * The thread that does AsyncOutput's blocking write(2) calls. It takes one
 * chunk at a time, writes it in line-aligned pieces of at most PIPE_BUF
 * bytes, and answers once the chunk is written (or failed, with its errno).
 *
 * Why pieces of PIPE_BUF: POSIX makes a pipe write of at most PIPE_BUF bytes
 * atomic (Linux: 4096, include/uapi/linux/limits.h): it is in the pipe whole,
 * or not at all while it blocks. So whenever the process exits, however
 * stalled the reader, the pipe holds whole lines only, and the lines counted
 * in `shared[LINES]` after each piece are exactly the lines the reader gets
 * (for a pipe or FIFO; a file or terminal does not stall, a stream socket may
 * take part of a piece).
 * The price, measured into `| cat` (2 loaded vCPUs): 33 MiB of JSON take this
 * thread 210-340 ms in 4 KiB pieces against 45-100 ms in 64 KiB ones, i.e.
 * ~100 MB/s, 15 times what 100,000 flows every 5 s need, off the JS thread.
 * Bigger pieces would tear the last line and blur the count exactly when a
 * stalled reader is given up on, the case this output exists for.
 *
 * Why the source is text in a Blob URL rather than a worker file: `bun build
 * --compile` embeds what main.ts imports, and `new Worker(path)` is not part
 * of that: in the executable such a worker fails to load (silently, measured
 * with Bun 1.4.5) unless build.ts lists it as a second entrypoint. Source built
 * from self-contained functions runs the same from source and executable.
 */
import { writeWhole, type WriteSyncCall } from "../write-sync.ts";

/** Int32 slots of the SharedArrayBuffer the worker and AsyncOutput share. */
export const LINES = 0; // lines of the current chunk written so far; AsyncOutput resets it before each chunk
export const STOP = 1; // set by AsyncOutput when it gives up: no further piece is started
export const PAUSE = 2; // what writeWhole waits on after EAGAIN; never set
export const SHARED_SLOTS = 3;

export interface WriteRequest {
  /** Transferred to the worker: the sender must not touch it afterwards. */
  bytes: Uint8Array;
}

export interface WriteResult {
  /** errno code ("EPIPE", "EIO", …) when the chunk was not written whole; "stopped" after STOP. */
  error?: string;
}

/** PIPE_BUF on Linux (include/uapi/linux/limits.h). */
const PIPE_BUF = 4096;

/**
 * Writes `bytes` in pieces that end at a newline and hold at most `pipeBuf`
 * bytes (a longer line is written whole on its own), counting written lines
 * in shared[LINES]. Self-contained (its source runs in the worker): no
 * reference outside its parameters and JS globals.
 */
export function writeInPieces(
  fd: number,
  bytes: Uint8Array,
  write: WriteSyncCall,
  shared: Int32Array,
  whole: typeof writeWhole,
  pipeBuf: number,
): "done" | "stopped" {
  // Slots by number: the constants above are not in the worker's scope.
  const pause = shared.subarray(2, 3); // PAUSE
  let start = 0;
  while (start < bytes.length) {
    if (Atomics.load(shared, 1 /* STOP */) !== 0) return "stopped";
    let end = Math.min(start + pipeBuf, bytes.length);
    if (end < bytes.length) {
      let cut = end;
      while (cut > start && bytes[cut - 1] !== 10) cut--;
      if (cut > start) end = cut;
      else end = bytes.indexOf(10, end) + 1 || bytes.length;
    }
    const piece = bytes.subarray(start, end);
    whole(fd, piece, write, pause);
    let lines = 0;
    for (let i = 0; i < piece.length; i++) if (piece[i] === 10) lines++;
    Atomics.add(shared, 0 /* LINES */, lines);
    start = end;
  }
  return "done";
}

function workerSource(fd: number): string {
  return `
const writeWhole = ${writeWhole.toString()};
const writeInPieces = ${writeInPieces.toString()};
const writeSync = require("node:fs").writeSync;
let shared;
self.onmessage = (event) => {
  if (event.data.shared) return void (shared = event.data.shared);
  let error;
  try {
    if (writeInPieces(${fd}, event.data.bytes, writeSync, shared, writeWhole, ${PIPE_BUF}) === "stopped") error = "stopped";
  } catch (e) {
    error = (e && e.code) || String(e);
  }
  postMessage({ error });
};`;
}

/** A worker writing to `fd`, sharing `shared` (SHARED_SLOTS Int32 slots); `stop()` ends it. */
export function startOutputWorker(fd: number, shared: Int32Array): { worker: Worker; stop: () => void } {
  if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`output fd ${fd} must be a whole number >= 0`);
  if (!(shared.buffer instanceof SharedArrayBuffer) || shared.length < SHARED_SLOTS)
    throw new RangeError(`the output worker needs ${SHARED_SLOTS} Int32 slots of a SharedArrayBuffer`);
  const url = URL.createObjectURL(new Blob([workerSource(fd)], { type: "application/javascript" }));
  const worker = new Worker(url);
  worker.postMessage({ shared });
  // The agent's life is decided by its own timers and signals, not by pending output.
  worker.unref();
  return {
    worker,
    stop() {
      // A piece blocked in write(2) stays there until the reader reads or the process exits.
      Atomics.store(shared, STOP, 1);
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}
