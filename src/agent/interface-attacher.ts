/**
 * Keeps the flow programs attached to every selected interface: attaches to
 * new ones, drops the attachments of vanished ones (the kernel already
 * detached TCX links with the device). Owns every Attachment; close()
 * detaches them all.
 */
import { attachInterface, liveTcFilterOwner, removeStaleTcFilters, type AttachMode, type Attachment, type FlowPrograms } from "../bpf/attachments.ts";
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
  private cleanedStale = new Set<number>();

  constructor(
    private readonly programs: FlowPrograms,
    private readonly selected: InterfaceMatcher,
    private readonly mode: AttachMode,
    private readonly log: Logger,
    private readonly list: () => NetInterface[] = listInterfaces,
    private readonly linkTypeOf: (name: string) => number = readLinkType,
  ) {}

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
      if (!this.cleanedStale.has(iface.ifindex) && this.mode !== "tcx") {
        this.cleanedStale.add(iface.ifindex);
        const owner = liveTcFilterOwner(iface.ifindex);
        if (owner !== undefined && this.mode === "tc") {
          // Our handle is taken by a running agent: attaching would replace its filters.
          this.failed.set(iface.ifindex, iface.name);
          this.log.warn(`left ${iface.name} alone: process ${owner} holds the tc filters at our handle (another netflow-agent in tc mode?)`);
          continue;
        }
        const removed = owner === undefined ? removeStaleTcFilters(iface.ifindex) : 0;
        if (removed > 0) this.log.warn(`removed ${removed} tc filter(s) a previous run left on ${iface.name}`);
      }
      const linkType = this.linkTypeOf(iface.name);
      if (Number.isNaN(linkType)) continue; // vanished between listing and now
      const layer = linkLayerOf(linkType);
      if (!layer) {
        this.failed.set(iface.ifindex, iface.name);
        this.log.warn(`left ${iface.name} alone: its link type ${linkType} is neither Ethernet nor L3, which the parser reads`);
        continue;
      }
      try {
        const attachment = attachInterface(this.programs.programsFor(layer), iface.ifindex, iface.name, this.mode);
        this.attachments.set(iface.ifindex, attachment);
        this.log.info(`attached to ${iface.name} (${attachment.kind}, ifindex ${iface.ifindex})`);
      } catch (error) {
        // A device that vanished mid-attach is not worth a warning.
        if (error instanceof BpfError && error.errno === 19) continue;
        if (error instanceof BpfError && error.errno === 1) throw error; // no privilege: fatal
        this.failed.set(iface.ifindex, iface.name);
        this.log.warn(error instanceof Error ? error.message : String(error));
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
