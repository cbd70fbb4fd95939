/**
 * BPF links two ways: the link fds a process holds, each with the device the
 * kernel has it attached to (/proc/<pid>/fdinfo: a TCX link whose device
 * went away reads ifindex 0), and the kernel's own table of every link
 * (`bpftool link show`), which drops a link only once its last fd is closed.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface HeldLink {
  fd: number;
  linkId: number;
  /** "tcx", "netkit", … as fdinfo names it. */
  linkType: string;
  progId: number;
  /** 0 once the device is gone. */
  ifindex: number;
  /** BPF_TCX_INGRESS (46) or BPF_TCX_EGRESS (47) for TCX. */
  attachType: number;
}

/** fdinfo's "key:\tvalue" lines. */
function fdinfo(pid: number, fd: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of readFileSync(`/proc/${pid}/fdinfo/${fd}`, "latin1").split("\n")) {
    const tab = line.indexOf(":\t");
    if (tab > 0) fields.set(line.slice(0, tab), line.slice(tab + 2));
  }
  return fields;
}

/** fds of `pid` whose target is `anon_inode:<kind>`, skipping those closed meanwhile. */
function anonFds(pid: number, kind: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `anon_inode:${kind}`) out.push(fd);
    } catch {
      // closed between readdir and readlink
    }
  }
  return out;
}

/** The BPF link fds `pid` holds. */
export function heldLinks(pid: number): HeldLink[] {
  return anonFds(pid, "bpf_link").map((fd) => {
    const f = fdinfo(pid, fd);
    return {
      fd: Number(fd),
      linkId: Number(f.get("link_id")),
      linkType: f.get("link_type") ?? "",
      progId: Number(f.get("prog_id")),
      ifindex: Number(f.get("ifindex") ?? 0),
      // "46 (ingress)" on recent kernels, "46" before.
      attachType: Number.parseInt(f.get("attach_type") ?? "", 10),
    };
  });
}

/** The ids of the BPF programs `pid` holds fds to. */
export function heldProgramIds(pid: number): Set<number> {
  return new Set(anonFds(pid, "bpf-prog").map((fd) => Number(fdinfo(pid, fd).get("prog_id"))));
}

export interface KernelLink {
  id: number;
  /** enum bpf_link_type: 11 is BPF_LINK_TYPE_TCX (bpftool before 7.3 prints the number). */
  type: number | string;
  progId: number;
}

/** Every BPF link in the kernel, from `bpftool link show` (all namespaces, all processes). */
export async function kernelLinks(): Promise<KernelLink[]> {
  // bpftool walks the kernel's link ids, then opens each: a link (or its program) freed between the two
  // by anything else on the host makes the walk fail (exit 255, the error in its JSON on stdout). That is
  // the host changing under the walk, not an answer: walk again, a few times at most.
  let out = "";
  for (let attempt = 1; ; attempt++) {
    const proc = Bun.spawn(["bpftool", "-j", "link", "show"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [stdout, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code === 0) {
      out = stdout;
      break;
    }
    if (attempt === 5) throw new Error(`bpftool link show: exit ${code} (${attempt} walks): ${(err.trim() || stdout.trim()).slice(0, 500)}`);
  }
  return (JSON.parse(out || "[]") as { id: number; type: number | string; prog_id: number }[]).map((l) => ({ id: l.id, type: l.type, progId: l.prog_id }));
}
