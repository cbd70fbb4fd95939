/**
 * The per-Watch-stream buffer between the agent and a client: the agent
 * pushes without waiting; when the client reads slower than evictions come,
 * the oldest batches are dropped and counted, so a slow client never holds
 * the agent back or grows memory.
 */
export interface Buffered<T> {
  item: T;
  /** Items dropped since the previous one handed out. */
  dropped: number;
}

export class BatchBuffer<T> {
  private readonly items: T[] = [];
  private dropped = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity} must be >= 1`);
  }

  /** Never blocks; drops the oldest item when full. Ignored after end(). */
  push(item: T) {
    if (this.ended) return;
    if (this.items.length === this.capacity) {
      this.items.shift();
      this.dropped++;
    }
    this.items.push(item);
    this.wakeReader();
  }

  /**
   * No more items: the reader gets what is buffered, then stops, or throws
   * `error` when one is given (the producer failed). The first end() counts.
   */
  end(error?: Error) {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    this.wakeReader();
  }

  /** Items in order until end() (after the buffered ones) or until `signal` aborts (at once). */
  async *drain(signal?: AbortSignal): AsyncGenerator<Buffered<T>> {
    const onAbort = () => this.wakeReader();
    signal?.addEventListener("abort", onAbort);
    try {
      while (!signal?.aborted) {
        const item = this.items.shift();
        if (item !== undefined) {
          const dropped = this.dropped;
          this.dropped = 0;
          yield { item, dropped };
          continue;
        }
        if (this.ended) {
          if (this.failure) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private wakeReader() {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
