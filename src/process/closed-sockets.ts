/**
 * Entries of closed sockets leave the kernel's maps a grace period after
 * close(2): sock_release (bpf/owner.h) reports each closed socket through
 * the sock_closed ring, read here in place, and once `graceMs` has passed
 * its owner entry is deleted, and its connection entry if that still names
 * it. Until then the packets a TCP connection exchanges after close (its
 * FIN, the last ACKs) find their process. A closed socket costs three map
 * calls, once; the ring is read by the caller's timer.
 */
import { SOCK_CLOSED, SOCK_CONNECTION } from "../bpf/flow-layout.ts";
import { mapDelete, mapLookup } from "../bpf/libbpf.ts";
import { OverflowRing } from "../bpf/overflow-ring.ts";
import type { ProcessMaps } from "../bpf/process-maps.ts";

/** Longer than a TCP close takes (FIN, ACK; FIN_WAIT2 waits for the peer), shorter than an LRU turn. */
export const CLOSED_SOCKET_GRACE_MS = 30_000;

interface Closed {
  atMs: number;
  /** The struct sock_closed record. */
  record: Uint8Array;
}

export class ClosedSockets implements Disposable {
  private readonly ring: OverflowRing;
  private pending: Closed[] = [];
  private head = 0;
  /** Sockets whose entries were deleted. */
  removed = 0;

  constructor(
    private readonly maps: ProcessMaps,
    private readonly graceMs = CLOSED_SOCKET_GRACE_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.ring = new OverflowRing(maps.closedFd, maps.closedBytes, SOCK_CLOSED.size);
  }

  /** Sockets reported closed whose entries are still there. */
  get waiting(): number {
    return this.pending.length - this.head;
  }

  /** Reads the sockets closed since the last call; deletes the entries of those closed `graceMs` ago. */
  sweep() {
    const atMs = this.now();
    this.ring.consume((words, at) => {
      this.pending.push({ atMs, record: new Uint8Array(words.buffer, words.byteOffset + at * 4, SOCK_CLOSED.size).slice() });
    });
    const value = new Uint8Array(8);
    while (this.head < this.pending.length && atMs - this.pending[this.head]!.atMs >= this.graceMs) {
      const { record } = this.pending[this.head++]!;
      const cookie = record.subarray(SOCK_CLOSED.fields.cookie.offset, SOCK_CLOSED.fields.cookie.offset + 8);
      mapDelete(this.maps.ownersFd, cookie);
      const connection = record.subarray(SOCK_CLOSED.fields.connection.offset, SOCK_CLOSED.fields.connection.offset + SOCK_CONNECTION.size);
      const localPort = connection[SOCK_CONNECTION.fields.local_port.offset]! | (connection[SOCK_CONNECTION.fields.local_port.offset + 1]! << 8);
      // Another socket may hold that 5-tuple now: only the entry that still names this one goes.
      if (localPort !== 0 && mapLookup(this.maps.connectionsFd, connection, value) && value.every((b, i) => b === cookie[i]))
        mapDelete(this.maps.connectionsFd, connection);
      this.removed++;
    }
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }

  close() {
    this.ring.close();
  }

  [Symbol.dispose]() {
    this.close();
  }
}
