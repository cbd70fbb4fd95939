/**
 * `run --export ipfix`: flows to any IPFIX collector (nfdump's nfcapd,
 * pmacct's nfacctd, goflow2, ntopng…) as RFC 7011 messages over UDP.
 *
 * export() encodes the batch into messages at once (the columns are reused
 * by the next eviction) and queues them; a paced sender drains the queue at
 * most `rate` datagrams a second, in small bursts, so one eviction's
 * thousands of datagrams do not overrun the collector's socket buffer (UDP
 * has no flow control: what overruns it is lost without a trace).
 *
 * Templates go out before the first data and again every `templateRefreshMs`
 * (RFC 7011 §8.1), with the options template and the interface names, so a
 * collector that restarts learns them at the next refresh. An interface seen
 * for the first time between refreshes has its name sent before its flows.
 * Interface names travel in observation domain 0, flows in `domain`: each
 * domain has its own sequence number, which is what keeps both nfcapd (it
 * counts flow records only) and tshark (it counts every data record)
 * free of sequence errors; the reasons are in ipfix-encoder.ts. Sampled
 * flows (--sampling, rules' sample=N) go in domain `domain` + N, with their
 * templates and sampling options there (the encoder sends them before a
 * rate's first flows and at each refresh), so collectors scale them by N and
 * never scale the unsampled flows. Flows with drops (--enable-drops) carry
 * droppedOctetDeltaCount/droppedPacketDeltaCount in templates 264–267, sent
 * from the first such flow on (ipfix-templates.ts); DNS and RTT have no IANA
 * Information Element and are not exported here.
 *
 * Ownership: the exporter owns its socket, its queue and its timers;
 * disposing it sends what is queued (paced) for at most `flushTimeoutMs`,
 * counts the rest as dropped, and closes the socket.
 */
import { lookup } from "node:dns/promises";
import type { FlowColumns } from "../flow/flow-columns.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import type { Logger } from "../log.ts";
import { hostPortText, type HostPort } from "../net/listen-address.ts";
import { INTERFACE_NAMES_DOMAIN, IpfixEncoder, type IpfixMessage } from "./ipfix-encoder.ts";
import type { Exporter, SinkStats } from "./exporter.ts";

/** What `run` configures (RunConfig.export.ipfix, built in src/cli/export-options.ts). */
export interface IpfixExportSettings {
  target: HostPort;
  /** Observation domain id (--ipfix-domain). */
  domain: number;
  /** Templates are re-sent this often (--ipfix-template-refresh). */
  templateRefreshMs: number;
  /** Path MTU (--ipfix-mtu): messages are at most this less the IP and UDP headers. */
  mtu: number;
  /** Most datagrams a second (--ipfix-rate). */
  rate: number;
  /** Most bytes of messages waiting (--export-queue-bytes); beyond, the oldest flows are dropped. */
  queueBytes: number;
  flushTimeoutMs: number;
}

/** The largest message for a path MTU: less the IP header (20 B IPv4, 40 B IPv6) and UDP's 8 B. */
export function maxMessageBytes(mtu: number, ipv6: boolean): number {
  return Math.min(65507, mtu - (ipv6 ? 40 : 20) - 8);
}

/** stats() and the details behind it (tests, bench, the exit report). */
export interface IpfixExportDetails extends SinkStats {
  sentMessages: number;
  templateMessages: number;
  /** Sequence number the next message of flows carries: flow records encoded so far, mod 2^32. */
  nextSequence: number;
  /** The same for the interface names' domain (0): names encoded so far, mod 2^32. */
  nextNamesSequence: number;
}

/** Datagrams sent back to back before the sender yields; with `rate` this sets the tick. */
const MAX_BURST = 32;

interface UdpSender {
  send(bytes: Uint8Array): boolean;
  close(): void;
}

export class IpfixExporter implements Exporter {
  readonly name = "ipfix";
  private readonly encoder: IpfixEncoder;
  private readonly queue: IpfixMessage[] = [];
  private head = 0;
  private queuedBytes = 0;
  private queuedFlows = 0;
  private sentRecords = 0;
  private sentMessages = 0;
  private templateMessages = 0;
  private droppedRecords = 0;
  private sendErrors = 0;
  private dropEpisode = 0;
  /**
   * ifindex → name the collector has been told since the last refresh. A refresh re-sends only
   * these and starts over, so interfaces that vanished (pods come and go) are not kept forever.
   */
  private announced = new Map<number, string>();
  /** Interfaces that carried flows since the last refresh. */
  private seenSinceRefresh = new Map<number, string>();
  private templatesDue = true;
  private readonly refreshTimer: ReturnType<typeof setInterval>;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  private tokens = MAX_BURST;
  private lastRefill = performance.now();
  private waitingForDrain = false;
  private closed = false;
  private readonly targetText: string;

  private constructor(
    private readonly settings: IpfixExportSettings,
    private readonly socket: UdpSender,
    ipv6Target: boolean,
    private readonly log: Logger,
  ) {
    this.targetText = hostPortText(settings.target);
    this.encoder = new IpfixEncoder(settings.domain, maxMessageBytes(settings.mtu, ipv6Target));
    this.refreshTimer = setInterval(() => {
      this.enqueueTemplates();
      this.pump();
    }, settings.templateRefreshMs);
    this.refreshTimer.unref?.();
  }

  /** Opens the UDP socket (connected: ICMP errors come back as send errors). */
  static async open(settings: IpfixExportSettings, log: Logger): Promise<IpfixExporter> {
    let exporter: IpfixExporter | undefined;
    // Resolved once, here: the family sets the IP header the message size leaves room for.
    const { address, family } = await lookup(settings.target.host).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`--ipfix-target ${hostPortText(settings.target)}: cannot resolve ${settings.target.host} (${error.code ?? error.message})`);
    });
    const socket = await Bun.udpSocket({
      connect: { hostname: address, port: settings.target.port },
      socket: {
        drain: () => exporter?.onDrain(),
        // A connected UDP socket reports the collector's ICMP "port unreachable" here.
        error: () => exporter?.onSendError(),
      },
    } as Parameters<typeof Bun.udpSocket>[0]);
    exporter = new IpfixExporter(settings, socket as unknown as UdpSender, family === 6, log);
    log.info(
      `exporting IPFIX to ${exporter.targetText} (domain ${settings.domain}, interface names in domain ${INTERFACE_NAMES_DOMAIN}, ` +
        `messages ≤ ${exporter.encoder.maxMessageBytes} B, ` +
        `≤ ${settings.rate} datagrams/s, templates every ${settings.templateRefreshMs / 1000}s)`,
    );
    return exporter;
  }

  export(batch: FlowBatch): void {
    if (this.closed) return;
    const seconds = Math.floor(batch.evictedAtMs / 1000);
    if (this.templatesDue) this.enqueueTemplates(batch.flows);
    else this.announceNewInterfaces(batch.flows, seconds);
    for (const message of this.encoder.flows(batch.flows, seconds)) this.enqueue(message);
    this.pump();
  }

  stats(): SinkStats {
    const { queuedRecords, queuedBytes, sentRecords, droppedRecords, sendErrors, sentMessages } = this.details();
    return { queuedRecords, queuedBytes, sentRecords, droppedRecords, sendErrors, sentMessages };
  }

  details(): IpfixExportDetails {
    return {
      queuedRecords: this.queuedFlows,
      queuedBytes: this.queuedBytes,
      sentRecords: this.sentRecords,
      droppedRecords: this.droppedRecords,
      sendErrors: this.sendErrors,
      sentMessages: this.sentMessages,
      templateMessages: this.templateMessages,
      nextSequence: this.encoder.nextSequence,
      nextNamesSequence: this.encoder.nextNamesSequence,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refreshTimer);
    const deadline = performance.now() + this.settings.flushTimeoutMs;
    while (this.head < this.queue.length && performance.now() < deadline) {
      this.pump();
      await Bun.sleep(Math.max(1, Math.min(10, deadline - performance.now())));
    }
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    const unsent = this.queuedFlows;
    if (unsent > 0) {
      this.droppedRecords += unsent;
      this.log.warn(`export to ${this.targetText}: ${unsent} records not sent within --export-flush-timeout`);
    }
    this.queue.length = 0;
    this.head = 0;
    this.queuedFlows = 0;
    this.queuedBytes = 0;
    this.socket.close();
    this.log.info(
      `export to ${this.targetText}: ${this.sentRecords} records in ${this.sentMessages} IPFIX messages` +
        (this.droppedRecords ? `, ${this.droppedRecords} dropped` : "") +
        (this.sendErrors ? `, ${this.sendErrors} send errors` : ""),
    );
  }

  /** Templates, options template and every known interface name; `flows` adds the batch's interfaces first. */
  private enqueueTemplates(flows?: FlowColumns) {
    if (this.closed) return;
    if (flows) this.learnInterfaces(flows, this.announced);
    const seconds = Math.floor(Date.now() / 1000);
    for (const message of this.encoder.templates(seconds, this.announced)) this.enqueue(message);
    this.templatesDue = false;
    // At a timed refresh, keep only the interfaces that carried flows since the last one: a vanished
    // interface is forgotten after two refreshes; a returning one is announced again.
    if (!flows) {
      this.announced = this.seenSinceRefresh;
      this.seenSinceRefresh = new Map();
    }
  }

  private announceNewInterfaces(flows: FlowColumns, seconds: number) {
    const fresh = new Map<number, string>();
    this.learnInterfaces(flows, fresh);
    if (fresh.size === 0) return;
    for (const [ifindex, name] of fresh) this.announced.set(ifindex, name);
    for (const message of this.encoder.interfaceNameMessages(seconds, fresh)) this.enqueue(message);
  }

  /** Adds to `into` every interface of the batch whose name the collector has not been told. */
  private learnInterfaces(flows: FlowColumns, into: Map<number, string>) {
    let previous = -1;
    for (let i = 0; i < flows.count; i++) {
      const ifindex = flows.ifindex(i);
      if (ifindex === previous) continue;
      previous = ifindex;
      if (into.has(ifindex)) continue;
      const name = flows.interfaceName(i);
      this.seenSinceRefresh.set(ifindex, name);
      if (this.announced.get(ifindex) !== name) into.set(ifindex, name);
    }
  }

  private enqueue(message: IpfixMessage) {
    this.queue.push(message);
    this.queuedBytes += message.bytes.length;
    this.queuedFlows += message.flows;
    while (this.queuedBytes > this.settings.queueBytes && this.dropOldestData()) {}
  }

  /** Drops the oldest message of flows (templates stay: later data needs them). */
  private dropOldestData(): boolean {
    for (let i = this.head; i < this.queue.length; i++) {
      const message = this.queue[i]!;
      if (message.templates || message.flows === 0) continue;
      this.queue.splice(i, 1);
      this.encoder.release(message);
      this.queuedBytes -= message.bytes.length;
      this.queuedFlows -= message.flows;
      this.droppedRecords += message.flows;
      if (this.dropEpisode === 0)
        this.log.warn(`export to ${this.targetText}: queue full (--export-queue-bytes ${this.settings.queueBytes}): dropping the oldest flows`);
      this.dropEpisode += message.flows;
      return true;
    }
    return false;
  }

  /** Sends what the token bucket allows, then schedules itself while messages wait. */
  private pump() {
    if (this.waitingForDrain) return;
    const now = performance.now();
    const rate = this.settings.rate;
    this.tokens = Math.min(MAX_BURST, this.tokens + ((now - this.lastRefill) * rate) / 1000);
    this.lastRefill = now;
    while (this.head < this.queue.length && this.tokens >= 1) {
      const message = this.queue[this.head]!;
      let accepted: boolean;
      try {
        accepted = this.socket.send(message.bytes);
      } catch {
        this.onSendError();
        accepted = true; // the datagram is gone either way; do not resend it forever
      }
      if (!accepted) {
        // The socket's buffer is full: the drain callback resumes.
        this.waitingForDrain = true;
        return;
      }
      this.tokens -= 1;
      // Sent (the kernel has copied it) or lost: its bytes may be reused.
      this.encoder.release(message);
      this.queue[this.head++] = undefined as unknown as IpfixMessage;
      this.queuedBytes -= message.bytes.length;
      this.queuedFlows -= message.flows;
      this.sentRecords += message.flows;
      this.sentMessages++;
      if (message.templates) this.templateMessages++;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      if (this.dropEpisode > 0) {
        this.log.info(`export to ${this.targetText}: queue drained; ${this.dropEpisode} records were dropped`);
        this.dropEpisode = 0;
      }
      return;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.pumpTimer === undefined) {
      const waitMs = Math.max(1, ((1 - this.tokens) * 1000) / rate);
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, waitMs);
    }
  }

  private onDrain() {
    this.waitingForDrain = false;
    this.pump();
  }

  private onSendError() {
    this.sendErrors++;
  }
}
