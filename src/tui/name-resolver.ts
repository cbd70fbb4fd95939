/**
 * Reverse DNS for the view, off the render path: `nameOf` answers from the
 * cache at once (undefined while unknown) and queues a lookup; a few run at a
 * time, each with a short timeout; `onResolved` asks for a redraw when a name
 * arrives. Failures are cached as "no name" so an address is asked once.
 */
import { promises as dns } from "node:dns";

export type ReverseLookup = (addr: string) => Promise<string[]>;

export function dnsReverse(timeoutMs = 2000): ReverseLookup {
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 1 });
  return (addr) => resolver.reverse(addr);
}

export class NameResolver {
  /** addr → name, or null when it has none (or the lookup failed). */
  private readonly cache = new Map<string, string | null>();
  private readonly waiting: string[] = [];
  private readonly running = new Set<string>();

  constructor(
    private readonly lookup: ReverseLookup,
    private readonly onResolved: () => void,
    private readonly maxInFlight = 4,
  ) {}

  readonly nameOf = (addr: string): string | undefined => {
    if (!addr) return undefined;
    const cached = this.cache.get(addr);
    if (cached !== undefined) return cached ?? undefined;
    if (!this.running.has(addr) && !this.waiting.includes(addr)) {
      this.waiting.push(addr);
      this.pump();
    }
    return undefined;
  };

  /** Lookups queued or running. */
  get pending(): number {
    return this.waiting.length + this.running.size;
  }

  private pump() {
    while (this.running.size < this.maxInFlight && this.waiting.length > 0) {
      const addr = this.waiting.shift()!;
      this.running.add(addr);
      this.lookup(addr)
        .then(
          (names) => this.cache.set(addr, names[0] ?? null),
          () => this.cache.set(addr, null),
        )
        .finally(() => {
          this.running.delete(addr);
          this.onResolved();
          this.pump();
        });
    }
  }
}
