/**
 * Waiting for a condition instead of sleeping for a guess: a test that
 * sleeps "long enough" passes or fails with the machine's load. The deadline
 * only bounds a failure, so it is generous (a VM loaded by stress-ng).
 */

/** Long enough for anything a loaded 2-core VM does in these tests; reached only on failure. */
export const DEADLINE_MS = 30_000;

/**
 * Polls `probe` every `everyMs` until it returns a value other than
 * undefined, null or false, and returns that value; after `timeoutMs` fails
 * naming `what` and, when given, `state()` at the last try.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  options: { timeoutMs?: number; everyMs?: number; state?: () => unknown } = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? DEADLINE_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
    if (Date.now() > deadline) {
      const state = options.state ? `; last state: ${JSON.stringify(options.state())}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state}`);
    }
    await Bun.sleep(options.everyMs ?? 50);
  }
}
