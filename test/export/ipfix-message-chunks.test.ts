/** The IPFIX encoder's chunks: reused only when full and wholly released, and no more kept than the last batch filled. */
import { expect, test } from "bun:test";
import { MessageChunks } from "../../src/export/ipfix-message-chunks.ts";

test("a chunk is reused once it is full and every message in it is released, not before", () => {
  const chunks = new MessageChunks(1024);
  chunks.keepFor(4);
  const a = chunks.take();
  a.unreleased = 2;
  const [m1, m2] = [a.bytes.subarray(0, 10), a.bytes.subarray(10, 20)];
  chunks.release(m1);
  chunks.release(m2);
  expect(chunks.freeChunks).toBe(0); // still being filled
  chunks.retire(a);
  expect(chunks.freeChunks).toBe(1);
  expect(chunks.take()).toBe(a);

  const b = chunks.take();
  b.unreleased = 1;
  chunks.retire(b);
  expect(chunks.freeChunks).toBe(0); // a message still out
  chunks.release(new Uint8Array(10)); // not one of these chunks: ignored
  expect(chunks.freeChunks).toBe(0);
  chunks.release(b.bytes.subarray(0, 5));
  expect(chunks.freeChunks).toBe(1);
});

test("no more free chunks are kept than the last batch filled", () => {
  const chunks = new MessageChunks(1024);
  chunks.keepFor(3);
  const taken = Array.from({ length: 5 }, () => chunks.take());
  for (const c of taken) chunks.retire(c);
  expect(chunks.freeChunks).toBe(3);
  chunks.keepFor(1);
  expect(chunks.freeChunks).toBe(1);
  expect(chunks.taken).toBe(5);
});
