/**
 * Keeps the flow programs attached to every selected interface: attaches to
 * new ones, drops the attachments of vanished ones (the kernel already
 * detached TCX links with the device) and of replaced ones (a new device under
 * a vanished one's ifindex, told apart by NetInterface.instance), then attaches
 * to the new device. Owns every Attachment; close() detaches them all.
 */
import { attachInterface, TcHandleTaken, tcxTurnedOff, type AttachMode, type Attachment, type FlowPrograms } from "../bpf/attachments.ts";
import { BpfError } from "../bpf/errors.ts";
import { linkLayerOf, listInterfaces, readLinkType, type NetInterface } from "../bpf/interfaces.ts";
import type { Logger } from "../log.ts";
import type { InterfaceMatcher } from "./interface-filter.ts";

/**
 * Names of vanished interfaces kept (the oldest to vanish forgotten first). A name is
 * needed until the eviction after the interface vanished has been exported
 * (its flows are then drained); it is lost, and its flows named if<ifindex>,
 * only if more interfaces than this vanish within one --cache-active-timeout.
 * Bounded so that interface churn (pods coming and going for months) does
 * not grow the agent: about 100 bytes a name.
 */
export const VANISHED_NAMES_KEPT = 1024;

export class InterfaceAttacher implements Disposable {
  private readonly attachments = new Map<number, Attachment>();
  /** Names of the interfaces present at the last reconcile. */
  private readonly presentNames = new Map<number, string>();
  /** Names of the last VANISHED_NAMES_KEPT vanished interfaces, in the order they vanished: their flows keep them. */
  private readonly vanishedNames = new Map<number, string>();
  /** Interfaces that failed to attach, by ifindex: reported once, not retried each poll. */
  private readonly failed = new Map<number, string>();
  /** Those of `failed` left alone for their link type (not an attach that failed). */
  private readonly unsupported = new Set<number>();
  /** The device (NetInterface.instance) each attachment and each failure is about, by ifindex. */
  private readonly instances = new Map<number, bigint>();
  /** NETFLOW_TCX=off, read and validated once. */
  private readonly tcxOff = tcxTurnedOff();
  private toldFallback = false;

  constructor(
    private readonly programs: FlowPrograms,
    private readonly selected: InterfaceMatcher,
    private readonly mode: AttachMode,
    private readonly log: Logger,
    private readonly list: () => NetInterface[] = listInterfaces,
    private readonly linkTypeOf: (name: string) => number = readLinkType,
  ) {
    if (this.tcxOff && mode === "auto") log.info("NETFLOW_TCX=off: TCX counts as unsupported, so auto attaches with clsact + cls_bpf");
  }

  /** Brings attachments in line with the interfaces present now. */
  reconcile() {
    const present = this.list();
    const presentByIndex = new Map(present.map((i) => [i.ifindex, i]));
    for (const [ifindex, attachment] of this.attachments) {
      const now = presentByIndex.get(ifindex);
      // Replaced: deleted and created again between two polls, under the same ifindex (and maybe name).
      const change = !now ? "removed" : now.instance !== this.instances.get(ifindex) ? "replaced" : now.name !== attachment.name ? "renamed" : undefined;
      if (!change) continue;
      // A renamed device still has our programs; a removed or replaced one took them with it.
      if (change === "renamed") attachment.close();
      else attachment.deviceGone();
      this.attachments.delete(ifindex);
      this.log.info(`detached from ${attachment.name} (interface ${change})`);
    }
    for (const ifindex of this.failed.keys())
      if (presentByIndex.get(ifindex)?.instance !== this.instances.get(ifindex)) {
        this.failed.delete(ifindex);
        this.unsupported.delete(ifindex);
      }
    for (const ifindex of this.instances.keys()) if (!this.attachments.has(ifindex) && !this.failed.has(ifindex)) this.instances.delete(ifindex);
    this.rememberNames(presentByIndex);

    for (const iface of present) {
      if (this.attachments.has(iface.ifindex) || this.failed.has(iface.ifindex)) continue;
      if (!this.selected(iface.name)) continue;
      const linkType = this.linkTypeOf(iface.name);
      if (Number.isNaN(linkType)) continue; // vanished between listing and now
      const layer = linkLayerOf(linkType);
      if (!layer) {
        this.failed.set(iface.ifindex, iface.name);
        this.unsupported.add(iface.ifindex);
        this.instances.set(iface.ifindex, iface.instance);
        this.log.warn(`left ${iface.name} alone: its link type ${linkType} is neither Ethernet nor L3, which the parser reads`);
        continue;
      }
      try {
        const attachment = attachInterface(this.programs.programsFor(layer), iface.ifindex, iface.name, { mode: this.mode, tcxOff: this.tcxOff });
        this.attachments.set(iface.ifindex, attachment);
        this.instances.set(iface.ifindex, iface.instance);
        if (attachment.kind === "tc" && this.mode === "auto" && !this.tcxOff && !this.toldFallback) {
          this.toldFallback = true;
          this.log.info("this kernel has no TCX (6.6+): auto attaches with clsact + cls_bpf");
        }
        if (attachment.staleFiltersRemoved > 0)
          this.log.warn(`removed ${attachment.staleFiltersRemoved} tc filter(s) a previous run left on ${iface.name}`);
        this.log.info(`attached to ${iface.name} (${attachment.kind}, ifindex ${iface.ifindex})`);
      } catch (error) {
        // A device that vanished mid-attach is not worth a warning.
        if (error instanceof BpfError && error.errno === 19) continue;
        if (error instanceof BpfError && error.errno === 1) throw error; // no privilege: fatal
        this.failed.set(iface.ifindex, iface.name);
        this.instances.set(iface.ifindex, iface.instance);
        // Another agent's filters hold our tc handle: attaching would replace them and take its data.
        if (error instanceof TcHandleTaken) this.log.warn(`left ${iface.name} alone: ${error.message}`);
        else this.log.warn(error instanceof Error ? error.message : String(error));
      }
    }
  }

  /** Present names replace vanished ones; the vanished beyond VANISHED_NAMES_KEPT are forgotten, oldest first. */
  private rememberNames(presentByIndex: Map<number, NetInterface>) {
    for (const [ifindex, name] of this.presentNames) {
      if (presentByIndex.has(ifindex)) continue;
      this.presentNames.delete(ifindex);
      this.vanishedNames.set(ifindex, name);
    }
    for (const iface of presentByIndex.values()) {
      this.presentNames.set(iface.ifindex, iface.name);
      this.vanishedNames.delete(iface.ifindex);
    }
    // A Map iterates in insertion order: the first keys vanished first.
    for (const ifindex of this.vanishedNames.keys()) {
      if (this.vanishedNames.size <= VANISHED_NAMES_KEPT) break;
      this.vanishedNames.delete(ifindex);
    }
  }

  nameOf = (ifindex: number): string => this.presentNames.get(ifindex) ?? this.vanishedNames.get(ifindex) ?? `if${ifindex}`;

  /** Selected interfaces present now that were left alone (a link type the parser does not read, an attach that failed). */
  leftAlone(): string[] {
    return [...this.failed.values()];
  }

  /** Selected interfaces present now whose attach failed (not those of a link type the parser does not read): /readyz waits for them. */
  failedToAttach(): string[] {
    return [...this.failed].filter(([ifindex]) => !this.unsupported.has(ifindex)).map(([, name]) => name);
  }

  attached(): { name: string; ifindex: number; kind: "tcx" | "tc" }[] {
    return [...this.attachments.values()].map((a) => ({ name: a.name, ifindex: a.ifindex, kind: a.kind }));
  }

  close() {
    for (const attachment of this.attachments.values()) attachment.close();
    this.attachments.clear();
  }

  [Symbol.dispose]() {
    this.close();
  }
}
