/** The network interfaces of this process's network namespace. */
import { readdirSync, readFileSync } from "node:fs";

export interface NetInterface {
  ifindex: number;
  name: string;
}

const SYS_CLASS_NET = "/sys/class/net";

/** Lists interfaces from sysfs (which `ip netns exec` remounts for the namespace). */
export function listInterfaces(): NetInterface[] {
  const out: NetInterface[] = [];
  for (const name of readdirSync(SYS_CLASS_NET)) {
    try {
      const ifindex = Number(readFileSync(`${SYS_CLASS_NET}/${name}/ifindex`, "latin1"));
      if (Number.isInteger(ifindex) && ifindex > 0) out.push({ ifindex, name });
    } catch {
      // Vanished between readdir and read: it will not be attached.
    }
  }
  return out.sort((a, b) => a.ifindex - b.ifindex);
}
