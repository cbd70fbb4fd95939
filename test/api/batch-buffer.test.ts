import { expect, test } from "bun:test";
import { BatchBuffer } from "../../src/api/batch-buffer.ts";

async function take<T>(iterator: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push((await iterator.next()).value);
  return out;
}

test("in order; full: the oldest dropped and the count handed out with the next item", async () => {
  const buffer = new BatchBuffer<number>(3);
  for (let i = 1; i <= 5; i++) buffer.push(i);
  const reader = buffer.drain();
  expect(await take(reader, 3)).toEqual([
    { item: 3, dropped: 2 },
    { item: 4, dropped: 0 },
    { item: 5, dropped: 0 },
  ]);
  buffer.push(6);
  expect(await take(reader, 1)).toEqual([{ item: 6, dropped: 0 }]);
});

test("a waiting reader wakes on push", async () => {
  const buffer = new BatchBuffer<string>(2);
  const next = buffer.drain().next();
  setTimeout(() => buffer.push("x"), 20);
  expect(await next).toEqual({ done: false, value: { item: "x", dropped: 0 } });
});

test("end: what is buffered still comes, then the reader stops; later pushes are ignored", async () => {
  const buffer = new BatchBuffer<number>(4);
  buffer.push(1);
  buffer.push(2);
  buffer.end();
  buffer.push(3);
  const items: number[] = [];
  for await (const { item } of buffer.drain()) items.push(item);
  expect(items).toEqual([1, 2]);
});

test("abort: the reader stops at once, even while waiting", async () => {
  const buffer = new BatchBuffer<number>(4);
  const abort = new AbortController();
  const reader = buffer.drain(abort.signal);
  const next = reader.next();
  abort.abort();
  expect(await next).toEqual({ done: true, value: undefined });
});

test("capacity must be a whole number >= 1", () => {
  expect(() => new BatchBuffer(0)).toThrow("capacity 0 must be >= 1");
});

test("end with an error: what is buffered still comes, then the reader throws it", async () => {
  const buffer = new BatchBuffer<number>(4);
  buffer.push(1);
  buffer.end(new Error("encoding failed"));
  buffer.end(); // the first end counts
  const items: number[] = [];
  const error = await (async () => {
    for await (const { item } of buffer.drain()) items.push(item);
  })().then(() => undefined, (e: Error) => e.message);
  expect({ items, error }).toEqual({ items: [1], error: "encoding failed" });
});
