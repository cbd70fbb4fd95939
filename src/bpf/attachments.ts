/**
 * Attaching the flow programs to one interface, ingress and egress.
 *
 * TCX links (kernel 6.6+) first: a link is an fd, closing it detaches, and
 * the kernel detaches it too when the process dies or the device goes away.
 * Older kernels get a clsact qdisc with cls_bpf direct-action filters at our
 * own handle/priority; those outlive the process, so they are removed on
 * close, and a new run removes any that a crashed run left behind.
 *
 * Our tc handle is shared by every agent on the host: before the tc path
 * touches it — in tc mode, or when auto falls back to it — one guard
 * (tcHandleOwner) tells a dead run's filters, which are removed, from a live
 * agent's, which are left alone.
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
import { holderOf } from "./program-holders.ts";

export type AttachMode = "auto" | "tcx" | "tc";

/** Our cls_bpf filters' handle and priority ("NF"): how a later run recognises them. */
export const TC_HANDLE = 0x4e46;
export const TC_PRIORITY = 0x4e46;

export interface Attachment extends Disposable {
  readonly ifindex: number;
  readonly name: string;
  readonly kind: "tcx" | "tc";
  /** tc filters a dead run had left at our handle, removed before attaching. */
  readonly staleFiltersRemoved: number;
  /** Detaches from the device. */
  close(): void;
  /**
   * For a device that went away (deleted, or moved to another namespace) and
   * whose ifindex another device may hold now: lets go of our handles without
   * a request about that ifindex, which could reach the other device's clsact.
   * The kernel detached TCX links and removed the qdisc with the device.
   */
  deviceGone(): void;
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

export interface AttachOptions {
  mode: AttachMode;
  /** TCX counts as unsupported, as on a kernel before 6.6 (NETFLOW_TCX=off, see tcxTurnedOff). */
  tcxOff: boolean;
}

/**
 * NETFLOW_TCX=off: a test and diagnostic knob that makes TCX count as
 * unsupported, so `--attach-mode auto` takes the path of a kernel before 6.6
 * on any kernel. Read once, when attaching starts.
 */
export function tcxTurnedOff(env: Record<string, string | undefined> = process.env): boolean {
  const value = env.NETFLOW_TCX;
  if (value === undefined || value === "") return false;
  if (value === "off") return true;
  throw new BpfError("reading NETFLOW_TCX", `"${value}" is not a setting`, 'set it to "off" (TCX counts as unsupported) or leave it unset');
}

/** Who owns the tc filters at our handle on a device. */
export type TcHandleOwner =
  /** No filter at our handle. */
  | { kind: "free" }
  /** Filters whose program no process holds: a crashed run's. */
  | { kind: "stale" }
  /** A running process holds the program (another agent in tc mode, a `top`). */
  | { kind: "live"; pid: number }
  /** Filters whose holder this user cannot see: other users' fd tables are closed to it. */
  | { kind: "unknown" };

/** The one guard before anything touches our tc handle on a device. */
export function tcHandleOwner(ifindex: number): TcHandleOwner {
  let found = false;
  let unknown = false;
  for (const point of [BPF_TC_INGRESS, BPF_TC_EGRESS]) {
    const progId = tcQuery(ifindex, point, TC_HANDLE, TC_PRIORITY);
    if (!progId) continue;
    found = true;
    const holder = holderOf(progId);
    if (holder.kind === "process") return { kind: "live", pid: holder.pid };
    if (holder.kind === "unknown") unknown = true;
  }
  if (!found) return { kind: "free" };
  return unknown ? { kind: "unknown" } : { kind: "stale" };
}

/** The tc path refused a device because another process's filters hold our handle (or may). */
export class TcHandleTaken extends Error {
  override readonly name = "TcHandleTaken";
  /** `pid`: the holder, when this user can see it. */
  constructor(readonly pid: number | undefined, message: string) {
    super(message);
  }
}

/** Why the tc path owns none of a device: `because` says why tc was chosen when auto fell back. */
function handleTaken(owner: TcHandleOwner, because: string | undefined): TcHandleTaken {
  const prefix = because ? `${because}, and ` : "";
  const where = because ? "at the handle the fallback would use" : "at our handle";
  if (owner.kind === "live")
    return new TcHandleTaken(owner.pid, `${prefix}process ${owner.pid} holds the tc filters ${where} (another netflow-agent in tc mode?)`);
  return new TcHandleTaken(
    undefined,
    `${prefix}tc filters sit ${where} whose holder this user cannot see (other users' /proc/<pid>/fd need CAP_SYS_PTRACE); ` +
      "if no other netflow-agent runs, one run as root removes them",
  );
}

class TcxAttachment implements Attachment {
  readonly kind = "tcx" as const;
  private open = true;
  constructor(
    readonly ifindex: number,
    readonly name: string,
    private readonly linkFds: number[],
    readonly staleFiltersRemoved: number,
  ) {}
  close() {
    if (!this.open) return;
    this.open = false;
    for (const fd of this.linkFds) closeFd(fd);
  }
  /** Closing a link fd is no request about the ifindex: the same as close. */
  deviceGone() {
    this.close();
  }
  [Symbol.dispose]() {
    this.close();
  }
}

class TcAttachment implements Attachment {
  readonly kind = "tc" as const;
  private open = true;
  /** The attach points whose filter at our handle is ours. */
  private readonly points: number[] = [];
  constructor(
    readonly ifindex: number,
    readonly name: string,
    private readonly createdHook: boolean,
    readonly staleFiltersRemoved: number,
  ) {}
  attach(point: number, progFd: number, doing: string) {
    tcAttach(this.ifindex, point, progFd, TC_HANDLE, TC_PRIORITY, doing);
    this.points.push(point);
  }
  close() {
    if (!this.open) return;
    this.open = false;
    for (const point of this.points) tcDetach(this.ifindex, point, TC_HANDLE, TC_PRIORITY);
    // Only a clsact we created is ours to remove: another tool's filters may hang off it.
    if (this.createdHook) tcHookDestroy(this.ifindex);
  }
  /** Filters and qdisc went with the device: nothing to remove, and the ifindex may be another device's now. */
  deviceGone() {
    this.open = false;
  }
  /** After losing the handle to another agent: our filters go, the qdisc stays (its filters hang off it). */
  abandon() {
    if (!this.open) return;
    this.open = false;
    for (const point of this.points) tcDetach(this.ifindex, point, TC_HANDLE, TC_PRIORITY);
  }
  [Symbol.dispose]() {
    this.close();
  }
}

function attachTcx(programs: ProgramFds, ifindex: number, name: string): TcxAttachment {
  const ingress = linkCreate(programs.ingressFd, ifindex, BPF_TCX_INGRESS, `attaching tcx ingress to ${name}`);
  let egress: number;
  try {
    egress = linkCreate(programs.egressFd, ifindex, BPF_TCX_EGRESS, `attaching tcx egress to ${name}`);
  } catch (error) {
    closeFd(ingress);
    throw error;
  }
  // A dead tc-mode run's filters would go on counting into its orphaned maps: ours to remove.
  const staleRemoved = tcHandleOwner(ifindex).kind === "stale" ? removeTcFilters(ifindex) : 0;
  return new TcxAttachment(ifindex, name, [ingress, egress], staleRemoved);
}

const EEXIST = 17;

function attachTc(programs: ProgramFds, ifindex: number, name: string, because?: string): TcAttachment {
  const owner = tcHandleOwner(ifindex);
  if (owner.kind === "live" || owner.kind === "unknown") throw handleTaken(owner, because);
  const staleRemoved = owner.kind === "stale" ? removeTcFilters(ifindex) : 0;
  const created = tcHookCreate(ifindex, `creating the clsact qdisc on ${name}`);
  const attachment = new TcAttachment(ifindex, name, created, staleRemoved);
  try {
    attachment.attach(BPF_TC_INGRESS, programs.ingressFd, `attaching tc ingress filter to ${name}`);
    attachment.attach(BPF_TC_EGRESS, programs.egressFd, `attaching tc egress filter to ${name}`);
    return attachment;
  } catch (error) {
    // EEXIST: another agent attached between the guard and us (without BPF_TC_F_REPLACE, the
    // kernel refuses a second filter at one handle). Its filters and the qdisc stay.
    const now = error instanceof BpfError && error.errno === EEXIST ? tcHandleOwner(ifindex) : undefined;
    if (now?.kind === "live" || now?.kind === "unknown") {
      attachment.abandon();
      throw handleTaken(now, because);
    }
    attachment.close();
    throw error;
  }
}

/** errnos that mean "this kernel has no TCX" (EINVAL: unknown attach type). */
function lacksTcx(error: unknown) {
  return error instanceof BpfError && (error.errno === 22 || error.errno === 524 || error.errno === 95);
}

const EOPNOTSUPP = 95;

/**
 * Attaches the pair to one device; the caller owns the result. Throws
 * TcHandleTaken when the tc path would have to replace filters that another
 * live process holds (or may hold): they are left alone, in every mode.
 */
export function attachInterface(programs: ProgramFds, ifindex: number, name: string, options: AttachOptions): Attachment {
  const { mode, tcxOff } = options;
  if (mode === "tc") return attachTc(programs, ifindex, name);
  if (tcxOff) {
    if (mode === "auto") return attachTc(programs, ifindex, name, "TCX is turned off (NETFLOW_TCX=off)");
    throw new BpfError(`attaching tcx ingress to ${name}`, "TCX is turned off (NETFLOW_TCX=off)", "unset NETFLOW_TCX, or use --attach-mode auto or tc", {
      errno: EOPNOTSUPP,
    });
  }
  try {
    return attachTcx(programs, ifindex, name);
  } catch (error) {
    if (mode === "auto" && lacksTcx(error)) return attachTc(programs, ifindex, name, "this kernel has no TCX (6.6+)");
    throw error;
  }
}

/** Removes the filters at our handle, whoever's they are; returns how many. Callers ask tcHandleOwner first. */
function removeTcFilters(ifindex: number): number {
  let removed = 0;
  if (tcDetach(ifindex, BPF_TC_INGRESS, TC_HANDLE, TC_PRIORITY)) removed++;
  if (tcDetach(ifindex, BPF_TC_EGRESS, TC_HANDLE, TC_PRIORITY)) removed++;
  return removed;
}
