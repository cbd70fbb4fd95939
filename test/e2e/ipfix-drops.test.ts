/**
 * Drops in IPFIX read by the real peers: synthetic batches (flows without
 * drops, then flows with drops, a drop-only flow among them, across template
 * refreshes) through the IPFIX exporter to nfcapd on 127.0.0.1, captured
 * for tshark. tshark must decode droppedOctetDeltaCount (132) and
 * droppedPacketDeltaCount (133) as "Dropped Octets" / "Dropped Packets"
 * with no sequence warning; nfcapd must store every flow, drop-only ones
 * with 0 packets, with no sequence error. nfdump (1.7.1 here, and its
 * source up to 1.7.8) has no mapping for 132 or 133 (src/netflow/ipfix.c,
 * ipfixTranslationMap): it skips the two fields and stores the rest, so
 * nfdump shows no drop counts; the test pins that too.
 *
 * Root: a namespace of its own (VethPair's first), where the exporter runs in
 * a child Bun process and the peers listen on its loopback: nothing else on
 * the host (another test's netfilter rule, say) touches the datagrams.
 */
import { expect } from "bun:test";
import type { IpfixExportDetails } from "../../src/export/ipfix-exporter.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import { udpFlow } from "../api/flow-fixtures.ts";
import { Nfcapd, TsharkCapture } from "../helpers/flow-collectors.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { $ } from "bun";

const ipv6 = (last: number) => Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]);
const drops = (packets: number, ipBytesEach: number) => ({ packets, bytes: packets * ipBytesEach, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: 0, tcpFlags: 0 });

/** Round r's flows (times 1 s apart per round): plain, forwarded + dropped, drop-only (IPv4 and IPv6, one tagged). */
function round(r: number, withDrops: boolean): FlowRecord[] {
  const at = 1_764_000_000_000 + r * 1000;
  const base = { startMs: at, endMs: at + 500, l2HeaderLen: 14, dscp: 0 };
  const plain = udpFlow({ ...base, srcPort: 41000 + r, packets: 5, bytes: 5 * (14 + 128) });
  if (!withDrops) return [plain];
  return [
    plain,
    udpFlow({ ...base, srcPort: 42000 + r, packets: 10, bytes: 10 * (14 + 100), drops: drops(4, 100) }),
    udpFlow({ ...base, srcPort: 43000 + r, packets: 0, bytes: 0, startMs: at + 250, endMs: at + 250, drops: drops(3, 128) }),
    udpFlow({ ...base, srcPort: 44000 + r, ethType: 0x86dd, srcAddr: ipv6(1), dstAddr: ipv6(2), vlanId: 9, l2HeaderLen: 18, packets: 0, bytes: 0, drops: drops(2, 1280) }),
  ];
}

/** Byte fields of FlowRecord, sent to the child as arrays. */
const BYTES = ["srcAddr", "dstAddr", "srcMac", "dstMac"];

/**
 * Exports each round as one batch (evicted 900 ms into its second) from a Bun
 * process in `ns`, 400 ms apart with templates refreshed every 300 ms, and
 * returns the exporter's details once it has flushed and closed.
 */
async function exportIn(ns: string, port: number, rounds: FlowRecord[][]): Promise<IpfixExportDetails> {
  const src = (path: string) => JSON.stringify(new URL(path, import.meta.url).pathname);
  const script = `
    import { IpfixExporter } from ${src("../../src/export/ipfix-exporter.ts")};
    import { createLogger } from ${src("../../src/log.ts")};
    import { batchOf } from ${src("../api/flow-fixtures.ts")};
    const bytes = ${JSON.stringify(BYTES)};
    const rounds = JSON.parse(process.env.ROUNDS, (k, v) => (bytes.includes(k) ? Uint8Array.from(v) : v));
    const exporter = await IpfixExporter.open(
      { target: { host: "127.0.0.1", port: ${port} }, domain: 77, templateRefreshMs: 300, mtu: 1500, rate: 10000, queueBytes: 1 << 20, flushTimeoutMs: 5000 },
      createLogger("warn"),
    );
    for (const [r, records] of rounds.entries()) {
      exporter.export(batchOf(records, 1_764_000_000_000 + r * 1000 + 900));
      await Bun.sleep(400); // a template refresh between rounds: the drops templates are re-sent from round 1 on
    }
    await exporter[Symbol.asyncDispose]();
    console.log(JSON.stringify(exporter.details()));
  `;
  const rows = JSON.stringify(rounds, (k, v) => (BYTES.includes(k) ? [...(v as Uint8Array)] : v));
  const out = await $`ip netns exec ${ns} bun -e ${script}`.env({ ...process.env, ROUNDS: rows }).quiet().text();
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

kernelTest("drops: tshark decodes 132/133, nfcapd stores every flow (drop-only with 0 packets, drop counts not kept); no sequence error in either", async () => {
  await using pair = await VethPair.create();
  const { ns } = pair.a;
  await using nfcapd = await Nfcapd.start({ ns });
  await using capture = await TsharkCapture.start(ns, nfcapd.port);
  const rounds = [round(0, false), round(1, true), round(2, true), round(3, false), round(4, true)];
  const details = await exportIn(ns, nfcapd.port, rounds);
  const all = rounds.flat();
  expect(details).toMatchObject({ sentRecords: all.length, droppedRecords: 0, sendErrors: 0 });
  await capture.stop(details.sentMessages);
  const stats = await nfcapd.stop();

  // tshark: the drops templates, and every record with drops has both counters, no sequence gap, nothing malformed.
  const text = await $`tshark -r ${capture.file} -d udp.port==${nfcapd.port},cflow -T fields -e cflow.template_id -e cflow.srcport -e cflow.packets -e cflow.drop_octets -e cflow.drop_packets -E separator=/t -E aggregator=,`
    .quiet()
    .text();
  const cells = text.split("\n").filter((l) => l.trim()).map((l) => l.split("\t").map((c) => (c ? c.split(",") : [])));
  const templateIds = new Set(cells.flatMap((c) => c[0]!).map(Number));
  for (const id of [256, 259, 260, 264, 265, 266, 267]) expect(templateIds).toContain(id); // announced (template sets) or used
  const decoded = cells.flatMap(([, ports, packets, octets, dropped]) => {
    // One datagram: its records' fields in order. Records are grouped by template, the "+ drops" ones last
    // (RECORD_TEMPLATES' order), so the k values of 132/133 belong to the last k records.
    const n = ports!.length;
    const d = dropped!.length;
    return ports!.map((port, i) => ({ port: Number(port), packets: Number(packets![i]), drops: i >= n - d ? { packets: Number(dropped![i - (n - d)]), bytes: Number(octets![i - (n - d)]) } : undefined }));
  });
  const expected = all.map((f) => ({ port: f.srcPort, packets: f.packets, drops: f.drops ? { packets: f.drops.packets, bytes: f.drops.bytes } : undefined }));
  const byPort = <T extends { port: number }>(rows: T[]) => [...rows].sort((x, y) => x.port - y.port);
  expect(byPort(decoded)).toEqual(byPort(expected));
  const verbose = await capture.decode();
  expect(verbose).toContain("Dropped Octets: 384");
  expect(verbose).toContain("Dropped Packets: 3");
  expect(verbose).not.toMatch(/Malformed|Unknown\(/);
  expect(await capture.expertProblems()).not.toMatch(/Errors|Warns/);

  // nfcapd: every flow (drop-only ones too, with 0 packets), no sequence error; 132/133 are not among what it keeps.
  expect(stats).toMatchObject({ flows: all.length, sequenceErrors: 0, badPackets: 0 });
  const stored = await nfcapd.flows();
  expect(byPort(stored.map((n) => ({ port: n.src_port, packets: n.in_packets, bytes: n.in_bytes })))).toEqual(
    byPort(all.map((f) => ({ port: f.srcPort, packets: f.packets, bytes: f.bytes - f.packets * f.l2HeaderLen! }))),
  );
  expect(stored.flatMap((n) => Object.keys(n)).filter((k) => /drop/i.test(k))).toEqual([]);
  console.log(`drops e2e: ${all.length} flows in ${details.sentMessages} messages; nfcapd ${JSON.stringify(stats)}; a drop-only flow in nfdump: ${JSON.stringify(stored.find((n) => n.src_port === 43001))}`);
}, 60_000);
