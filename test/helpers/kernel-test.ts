/**
 * Tests that need what only some hosts have: root (kernel programs, network
 * namespaces), or the clang that built the committed BPF objects. Where a
 * need is missing the test is skipped, which bun reports ("N skip") and
 * .ci/test repeats; under CI=true it is registered as a failing test
 * instead, naming the need, so a CI run that could not run its kernel tests
 * is never green.
 */
import { describe, test } from "bun:test";
import { isRoot } from "./netns.ts";

/** CI=true, as CI services set it: every test must run. */
export const inCI = process.env.CI === "true";

type TestBody = () => void | Promise<unknown>;

/** What the host lacks of `needs` (need → whether the host has it), in the given order. */
function lacking(needs: Record<string, boolean>): string[] {
  return Object.entries(needs)
    .filter(([, has]) => !has)
    .map(([need]) => need);
}

function refusal(kind: string, missing: string[]): string {
  return `${kind} needs ${missing.join(" and ")} (CI=true)`;
}

/**
 * `test` for a test that needs each key of `needs` whose value is true on
 * this host, e.g. `testNeeding({ root: isRoot, clang: clang !== undefined })`.
 * `kind` starts the failure's sentence: "kernel test needs root (CI=true)".
 */
export function testNeeding(needs: Record<string, boolean>, kind = "kernel test") {
  const missing = lacking(needs);
  return (name: string, body: TestBody, timeoutMs?: number) => {
    if (missing.length === 0) return test(name, body, timeoutMs);
    if (inCI)
      return test(name, () => {
        throw new Error(refusal(kind, missing));
      });
    return test.skip(name, body);
  };
}

/** `describe` for a block of tests that all need `needs` (see testNeeding). */
export function describeNeeding(needs: Record<string, boolean>, kind = "kernel test") {
  const missing = lacking(needs);
  return (name: string, body: () => void) => {
    if (missing.length === 0) return describe(name, body);
    if (inCI)
      return describe(name, () => {
        test("(every test of this block)", () => {
          throw new Error(refusal(kind, missing));
        });
      });
    return describe.skip(name, body);
  };
}

/** A test that needs root: kernel programs, attachments, namespaces. */
export const kernelTest = testNeeding({ root: isRoot });

/** A block of tests that need root. */
export const kernelDescribe = describeNeeding({ root: isRoot });
