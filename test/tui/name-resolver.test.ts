import { describe, expect, test } from "bun:test";
import { NameResolver } from "../../src/tui/name-resolver.ts";

/** A lookup whose answers the test releases one by one. */
function controlledLookup() {
  const calls: string[] = [];
  const pending = new Map<string, { resolve: (names: string[]) => void; reject: (e: Error) => void }>();
  const lookup = (addr: string) => {
    calls.push(addr);
    return new Promise<string[]>((resolve, reject) => pending.set(addr, { resolve, reject }));
  };
  return { calls, pending, lookup };
}

describe("NameResolver", () => {
  test("answers at once from the cache and looks an address up once, in the background", async () => {
    const { calls, pending, lookup } = controlledLookup();
    let redraws = 0;
    const resolver = new NameResolver(lookup, () => redraws++);
    expect(resolver.nameOf("198.18.0.1")).toBeUndefined();
    expect(resolver.nameOf("198.18.0.1")).toBeUndefined();
    expect(calls).toEqual(["198.18.0.1"]);
    pending.get("198.18.0.1")!.resolve(["a.example.test", "b.example.test"]);
    await Bun.sleep(0);
    expect(resolver.nameOf("198.18.0.1")).toBe("a.example.test");
    expect(redraws).toBe(1);
    expect(calls).toEqual(["198.18.0.1"]);
    expect(resolver.nameOf("")).toBeUndefined();
  });

  test("failures and empty answers are cached as no name", async () => {
    const { calls, pending, lookup } = controlledLookup();
    const resolver = new NameResolver(lookup, () => {});
    resolver.nameOf("198.18.0.1");
    resolver.nameOf("198.18.0.2");
    pending.get("198.18.0.1")!.reject(new Error("ENOTFOUND"));
    pending.get("198.18.0.2")!.resolve([]);
    await Bun.sleep(0);
    expect(resolver.nameOf("198.18.0.1")).toBeUndefined();
    expect(resolver.nameOf("198.18.0.2")).toBeUndefined();
    expect(calls).toEqual(["198.18.0.1", "198.18.0.2"]);
    expect(resolver.pending).toBe(0);
  });

  test("at most maxInFlight lookups run; the rest wait their turn", async () => {
    const { calls, pending, lookup } = controlledLookup();
    const resolver = new NameResolver(lookup, () => {}, 2);
    for (const a of ["a1", "a2", "a3", "a4"]) resolver.nameOf(a);
    expect(calls).toEqual(["a1", "a2"]);
    expect(resolver.pending).toBe(4);
    pending.get("a1")!.resolve(["n1"]);
    await Bun.sleep(0);
    expect(calls).toEqual(["a1", "a2", "a3"]);
    expect(resolver.pending).toBe(3);
  });
});
