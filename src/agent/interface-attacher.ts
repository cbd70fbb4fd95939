/**
 * Keeps the flow programs attached to every selected interface: attaches to
 * new ones, drops the attachments of vanished ones (the kernel already
 * detached TCX links with the device). Owns every Attachment; close()
 * detaches them all.
 */
import { attachInterface, TcHandleTaken, tcxTurnedOff, type AttachMode, type Attachment, type FlowPrograms } from "../bpf/attachments.ts";
import { BpfError } from "../bpf/errors.ts";
import { linkLayerOf, listInterfaces, readLinkType, type NetInterface } from "../bpf/interfaces.ts";
import type { Logger } from "../log.ts";
import type { InterfaceMatcher } from "./interface-filter.ts";

export class InterfaceAttacher implements Disposable {
  private readonly attachments = new Map<number, Attachment>();
  /** Every name ever seen, so flows of a deleted interface keep theirs. */
  private readonly knownNames = new Map<number, string>();
  /** Interfaces that failed to attach, by ifindex: reported once, not retried each poll. */
  private readonly failed = new Map<number, string>();
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
      if (!now || now.name !== attachment.name) {
        attachment.close();
        this.attachments.delete(ifindex);
        this.log.info(`detached from ${attachment.name} (interface ${now ? "renamed" : "removed"})`);
      }
    }
    for (const ifindex of this.failed.keys()) if (!presentByIndex.has(ifindex)) this.failed.delete(ifindex);

    for (const iface of present) {
      this.knownNames.set(iface.ifindex, iface.name);
      if (this.attachments.has(iface.ifindex) || this.failed.has(iface.ifindex)) continue;
      if (!this.selected(iface.name)) continue;
      const linkType = this.linkTypeOf(iface.name);
      if (Number.isNaN(linkType)) continue; // vanished between listing and now
      const layer = linkLayerOf(linkType);
      if (!layer) {
        this.failed.set(iface.ifindex, iface.name);
        this.log.warn(`left ${iface.name} alone: its link type ${linkType} is neither Ethernet nor L3, which the parser reads`);
        continue;
      }
      try {
        const attachment = attachInterface(this.programs.programsFor(layer), iface.ifindex, iface.name, { mode: this.mode, tcxOff: this.tcxOff });
        this.attachments.set(iface.ifindex, attachment);
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
        // Another agent's filters hold our tc handle: attaching would replace them and take its data.
        if (error instanceof TcHandleTaken) this.log.warn(`left ${iface.name} alone: ${error.message}`);
        else this.log.warn(error instanceof Error ? error.message : String(error));
      }
    }
  }

  nameOf = (ifindex: number): string => this.knownNames.get(ifindex) ?? `if${ifindex}`;

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
