#!/usr/bin/env bun
/** Prints the number of TCX programs on an interface of this namespace: `bun tcx-count.ts <ifname>`. */
import { readFileSync } from "node:fs";
import { attachedProgramCount, BPF_TCX_EGRESS, BPF_TCX_INGRESS } from "../../src/bpf/libbpf.ts";

const ifindex = Number(readFileSync(`/sys/class/net/${process.argv[2]}/ifindex`, "utf8"));
console.log(attachedProgramCount(ifindex, BPF_TCX_INGRESS) + attachedProgramCount(ifindex, BPF_TCX_EGRESS));
