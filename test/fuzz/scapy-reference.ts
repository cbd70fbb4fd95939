/**
 * The reference checked by a third party: a sample of fuzz frames through
 * test/fuzz/scapy-dissector.py (one python3 process, frames in on stdin,
 * answers out on stdout), each answer compared field by field with
 * dissect(frame).
 */
import { spawnSync } from "bun";
import { join } from "node:path";
import { fuzzFrames } from "./frame-generator.ts";
import { RandomSource } from "./random-source.ts";
import { dissect, hex, type ExpectedPacket } from "./reference-dissector.ts";

const SCRIPT = join(import.meta.dir, "scapy-dissector.py");

/** A python3 that imports scapy (Debian's python3-scapy sits under /usr/bin/python3, not pyenv's): undefined if none. */
export const pythonWithScapy: string | undefined = ["/usr/bin/python3", "python3"].find((python) => {
  try {
    return spawnSync([python, "-c", "import scapy.layers.inet6, scapy.layers.sctp, scapy.layers.ipsec"]).exitCode === 0;
  } catch {
    return false; // not installed
  }
});

export interface CrossCheck {
  frames: number;
  /** Frames where the two references differ, with the fields that differ. */
  disagreements: { frameHex: string; origin: string; differences: string[] }[];
}

const FIELDS = [
  "ethType", "protocol", "srcAddr", "dstAddr", "srcPort", "dstPort", "tcpFlags", "flags",
  "dscp", "icmpType", "icmpCode", "l2HeaderLen", "vlanId", "srcMac", "dstMac",
] as const satisfies readonly (keyof ExpectedPacket)[];

/** `frames` frames of the seed's fuzz stream through both references. */
export async function crossCheckWithScapy(python: string, seed: number, frames: number): Promise<CrossCheck> {
  const stream = fuzzFrames(new RandomSource(seed));
  const sample = Array.from({ length: frames }, () => stream.next().value!);
  const child = Bun.spawn([python, SCRIPT], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  child.stdin.write(sample.map((f) => hex(f.frame)).join("\n") + "\n");
  await child.stdin.end();
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`${SCRIPT} exited with ${code}: ${err.trim().split("\n").slice(-5).join(" | ")}`);
  const answers = out.trim().split("\n");
  if (answers.length !== frames) throw new Error(`${SCRIPT} answered ${answers.length} frames of ${frames}`);

  const disagreements: CrossCheck["disagreements"] = [];
  sample.forEach((f, i) => {
    const theirs = JSON.parse(answers[i]!) as Record<string, number | string>;
    const ours = dissect(f.frame);
    const differences: string[] = [];
    for (const name of FIELDS) {
      const value = ours[name];
      const mine = value instanceof Uint8Array ? hex(value) : value;
      if (mine !== theirs[name]) differences.push(`${name}: reference ${mine}, scapy ${theirs[name]}`);
    }
    if (differences.length > 0) disagreements.push({ frameHex: hex(f.frame), origin: f.origin, differences });
  });
  return { frames, disagreements };
}
