/**
 * The DNS tracker's maps (bpf/maps.h, bpf/dns.h): dns_flows, the last
 * matched transaction of each flow that carried a response, drained whole at
 * eviction; dns_counters, what the tracker saw, per CPU. Holds their fds,
 * owned by the FlowObject; present only with --enable-dns.
 */
import { DNS_COUNTERS, DNS_RECORD, FLOW_KEY } from "./flow-layout.ts";
import { PerCpuCounters } from "./per-cpu-counters.ts";
import { BatchDrain } from "./batch-drain.ts";

export interface DnsCounters {
  /** Queries seen (QR 0). */
  queries: number;
  /** Responses seen (QR 1). */
  responses: number;
  /** Responses whose query was seen: a latency was recorded. */
  matched: number;
  /** Packets to or from the DNS port too short for a DNS header: skipped (still counted in their flow). */
  malformed: number;
}

/** One drain of dns_flows: `count` rows of struct flow_key and struct dns_record, valid until the next drain. */
export interface DnsRows {
  keys: Uint8Array;
  records: Uint8Array;
  count: number;
}


export class DnsMaps {
  private readonly rows = new BatchDrain("dns_flows", FLOW_KEY.size, DNS_RECORD.size);
  private counters: PerCpuCounters<keyof typeof DNS_COUNTERS.fields> | undefined;

  constructor(
    private readonly flowsFd: number,
    private readonly countersFd: number,
    private readonly cpus: number,
    /** --dns-port: the port the kernel reads DNS on. */
    readonly port: number,
  ) {}

  /**
   * Reads and deletes every record of dns_flows (lookup_and_delete_batch). A
   * record the kernel writes meanwhile is in this drain or the next.
   */
  drain(): DnsRows {
    return this.rows.drain(this.flowsFd);
  }

  /** The tracker's counters, summed over CPUs (they only grow). */
  readCounters(): DnsCounters {
    this.counters ??= new PerCpuCounters(this.countersFd, DNS_COUNTERS, this.cpus, "dns_counters");
    return this.counters.read();
  }
}
