/**
 * Attaching the flow programs to one interface, ingress and egress.
 *
 * TCX links (kernel 6.6+) first: a link is an fd, closing it detaches, and
 * the kernel detaches it too when the process dies or the device goes away.
 * Older kernels get a clsact qdisc with cls_bpf direct-action filters at our
 * own handle/priority; those outlive the process, so they are removed on
 * close, and a new run removes any that a crashed run left behind.
 */
import { BpfError } from "./errors.ts";
import type { LinkLayer } from "./interfaces.ts";
import {
  BPF_TC_EGRESS,
  BPF_TC_INGRESS,
  BPF_TCX_EGRESS,
  BPF_TCX_INGRESS,
  closeFd,
  linkCreate,
  tcAttach,
  tcDetach,
  tcHookCreate,
  tcHookDestroy,
  tcQuery,
} from "./libbpf.ts";
import { otherHolderOf } from "./program-holders.ts";

export type AttachMode = "auto" | "tcx" | "tc";

/** Our cls_bpf filters' handle and priority ("NF"): how a later run recognises them. */
export const TC_HANDLE = 0x4e46;
export const TC_PRIORITY = 0x4e46;

export interface Attachment extends Disposable {
  readonly ifindex: number;
  readonly name: string;
  readonly kind: "tcx" | "tc";
  close(): void;
}

/** The pair of programs for one device. */
export interface ProgramFds {
  ingressFd: number;
  egressFd: number;
}

/** Program pairs by what a device's packets start with (FlowObject implements it). */
export interface FlowPrograms {
  programsFor(layer: LinkLayer): ProgramFds;
}

class TcxAttachment implements Attachment {
  readonly kind = "tcx" as const;
  private open = true;
  constructor(readonly ifindex: number, readonly name: string, private readonly linkFds: number[]) {}
  close() {
    if (!this.open) return;
    this.open = false;
    for (const fd of this.linkFds) closeFd(fd);
  }
  [Symbol.dispose]() {
    this.close();
  }
}

class TcAttachment implements Attachment {
  readonly kind = "tc" as const;
  private open = true;
  constructor(readonly ifindex: number, readonly name: string, private readonly createdHook: boolean) {}
  close() {
    if (!this.open) return;
    this.open = false;
    tcDetach(this.ifindex, BPF_TC_INGRESS, TC_HANDLE, TC_PRIORITY);
    tcDetach(this.ifindex, BPF_TC_EGRESS, TC_HANDLE, TC_PRIORITY);
    // Only a clsact we created is ours to remove: another tool's filters may hang off it.
    if (this.createdHook) tcHookDestroy(this.ifindex);
  }
  [Symbol.dispose]() {
    this.close();
  }
}

function attachTcx(programs: ProgramFds, ifindex: number, name: string): Attachment {
  const ingress = linkCreate(programs.ingressFd, ifindex, BPF_TCX_INGRESS, `attaching tcx ingress to ${name}`);
  try {
    const egress = linkCreate(programs.egressFd, ifindex, BPF_TCX_EGRESS, `attaching tcx egress to ${name}`);
    return new TcxAttachment(ifindex, name, [ingress, egress]);
  } catch (error) {
    closeFd(ingress);
    throw error;
  }
}

function attachTc(programs: ProgramFds, ifindex: number, name: string): Attachment {
  const created = tcHookCreate(ifindex, `creating the clsact qdisc on ${name}`);
  const attachment = new TcAttachment(ifindex, name, created);
  try {
    tcAttach(ifindex, BPF_TC_INGRESS, programs.ingressFd, TC_HANDLE, TC_PRIORITY, `attaching tc ingress filter to ${name}`);
    tcAttach(ifindex, BPF_TC_EGRESS, programs.egressFd, TC_HANDLE, TC_PRIORITY, `attaching tc egress filter to ${name}`);
    return attachment;
  } catch (error) {
    attachment.close();
    throw error;
  }
}

/** errnos that mean "this kernel has no TCX" (EINVAL: unknown attach type). */
function lacksTcx(error: unknown) {
  return error instanceof BpfError && (error.errno === 22 || error.errno === 524 || error.errno === 95);
}

export function attachInterface(programs: ProgramFds, ifindex: number, name: string, mode: AttachMode): Attachment {
  if (mode === "tc") return attachTc(programs, ifindex, name);
  try {
    return attachTcx(programs, ifindex, name);
  } catch (error) {
    if (mode === "auto" && lacksTcx(error)) return attachTc(programs, ifindex, name);
    throw error;
  }
}

/** Removes tc filters a crashed run left at our handle; returns how many. */
export function removeStaleTcFilters(ifindex: number): number {
  let removed = 0;
  if (tcDetach(ifindex, BPF_TC_INGRESS, TC_HANDLE, TC_PRIORITY)) removed++;
  if (tcDetach(ifindex, BPF_TC_EGRESS, TC_HANDLE, TC_PRIORITY)) removed++;
  return removed;
}

/**
 * The pid of a running process whose program sits in a tc filter at our
 * handle on this device (another agent in tc mode, a `top`): its filters are
 * not stale, and replacing them would take its data away.
 */
export function liveTcFilterOwner(ifindex: number): number | undefined {
  for (const point of [BPF_TC_INGRESS, BPF_TC_EGRESS]) {
    const progId = tcQuery(ifindex, point, TC_HANDLE, TC_PRIORITY);
    const pid = progId ? otherHolderOf(progId) : undefined;
    if (pid !== undefined) return pid;
  }
  return undefined;
}
