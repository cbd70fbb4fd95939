import { expect, test } from "bun:test";
import { LINES, SHARED_SLOTS, STOP, writeInPieces } from "../../src/export/output-worker.ts";
import { writeWhole, type WriteSyncCall } from "../../src/write-sync.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A write(2) that takes at most `max` bytes a call and records each call's piece. */
function recordingWrite(max = Infinity, failFirstWith?: string) {
  const calls: string[] = [];
  let failed = false;
  const write: WriteSyncCall = (_fd, bytes, offset, length) => {
    if (failFirstWith && !failed) {
      failed = true;
      throw Object.assign(new Error(failFirstWith), { code: failFirstWith });
    }
    const n = Math.min(length, max);
    calls.push(decode(bytes.subarray(offset, offset + n)));
    return n;
  };
  return { write, calls };
}

const shared = () => new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * 4));

test("pieces end at a newline and hold at most PIPE_BUF bytes; a longer line goes whole on its own; lines are counted", () => {
  const line = (n: number, c: string) => c.repeat(n - 1) + "\n";
  const text = line(10, "a") + line(10, "b") + line(25, "c") + line(8, "d") + line(8, "e");
  const { write, calls } = recordingWrite();
  const s = shared();
  expect(writeInPieces(1, encode(text), write, s, writeWhole, 20)).toBe("done");
  expect(calls).toEqual([line(10, "a") + line(10, "b"), line(25, "c"), line(8, "d") + line(8, "e")]);
  expect(s[LINES]).toBe(5);
});

test("short writes are continued; EAGAIN (a non-blocking fd) is waited out and retried", () => {
  const { write, calls } = recordingWrite(3, "EAGAIN");
  const s = shared();
  writeInPieces(1, encode("abcdefg\n"), write, s, writeWhole, 4096);
  expect(calls.join("")).toBe("abcdefg\n");
  expect(calls).toHaveLength(3);
  expect(s[LINES]).toBe(1);
});

test("STOP: no further piece is started; other errors are thrown with their code", () => {
  const s = shared();
  Atomics.store(s, STOP, 1);
  const { write, calls } = recordingWrite();
  expect(writeInPieces(1, encode("a\nb\n"), write, s, writeWhole, 2)).toBe("stopped");
  expect(calls).toEqual([]);
  const failing = recordingWrite(Infinity, "EPIPE");
  expect(() => writeInPieces(1, encode("a\n"), failing.write, shared(), writeWhole, 4096)).toThrow(expect.objectContaining({ code: "EPIPE" }));
});
