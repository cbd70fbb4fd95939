/**
 * End to end, the enrichments' trackers in Status and /metrics: the agent in
 * namespace A on its veth with --enable-drops, --enable-rtt, --enable-dns.
 * - B sends UDP datagrams to a port nobody listens on in A, which A's kernel
 *   drops with reason NO_SOCKET: the flow carries them (JSON lines), Status
 *   counts them (drops.recorded, drops.reasons with NO_SOCKET) and /metrics
 *   has netflow_agent_drops_total{reason="NO_SOCKET"}; every drop the tracer
 *   saw is in exactly one of recorded / unrecorded{why}, so those agree;
 * - an nft output rule in A drops datagrams before TC: a drop-only flow;
 * - A sends DNS queries (to B's closed port 53): the tracker counts them;
 * - a TCP connection from A to B with data: RTT records drained, flows with RTT.
 * And a tracer that cannot load: Status says why, /metrics says it is not loaded.
 */
import { expect } from "bun:test";
import { $ } from "bun";
import { Agent } from "../../src/agent/agent.ts";
import { statusResponse } from "../../src/api/agent-service.ts";
import { createLogger } from "../../src/log.ts";
import { renderAgentMetrics } from "../../src/metrics/agent-metrics.ts";
import { EVICTION_SECONDS_BUCKETS, Histogram } from "../../src/metrics/histogram.ts";
import { AgentProcess } from "../helpers/agent-process.ts";
import { statusIn, type AgentStatusReport } from "../helpers/agent-status.ts";
import { HttpRelay } from "../helpers/http-probe.ts";
import { kernelTest, testNeeding } from "../helpers/kernel-test.ts";
import { metricSamples } from "../helpers/metrics-text.ts";
import { isRoot, VethPair, type Host } from "../helpers/netns.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { promtoolCheck, promtoolPath } from "../metrics/promtool.ts";

const API = "127.0.0.1:9990";
const CLOSED_PORT = 7209;
const FILTERED_PORT = 7210;
const TCP_PORT = 7211;
const SENT = 300;
const QUERIES = 20;
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
const has = (command: string) => Bun.which(command, { PATH }) !== null;

/** A DNS query for example.com (A, IN): a 12-byte header, QR 0, one question. */
const DNS_QUERY = "\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01";

/**
 * Sends `count` datagrams of `payload` (a Python bytes literal's body) from an
 * unconnected socket in `host`: the ICMP port unreachable a closed port sends
 * back is not reported to it (udp_err reports only to connected sockets or
 * with IP_RECVERR). Returns how many sends the kernel refused (an nft output
 * rule's drop fails sendto with EPERM).
 */
async function sendDatagrams(host: Host, to: string, port: number, srcPort: number, count: number, payload = "x" + "x".repeat(63)): Promise<number> {
  const script = [
    "import socket, sys",
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
    "s.bind(('', int(sys.argv[3])))",
    "refused = 0",
    "for i in range(int(sys.argv[4])):",
    "    try:",
    `        s.sendto(b'${payload}', (sys.argv[1], int(sys.argv[2])))`,
    "    except PermissionError:",
    "        refused += 1",
    "print(refused)",
  ].join("\n");
  const out = await $`ip netns exec ${host.ns} python3 -c ${script} ${to} ${port} ${srcPort} ${count}`.text();
  return Number(out.trim());
}

testNeeding({ root: isRoot, promtool: promtoolPath !== null, nft: has("nft") })(
  "drops (NO_SOCKET, a drop-only flow), DNS queries and TCP RTT: the flows, Status and /metrics agree",
  async () => {
    await using pair = await VethPair.create();
    const { a, b } = pair;
    await pair.settle();
    const ruleset = `table inet statustest {\n chain output {\n  type filter hook output priority 0; policy accept;\n  udp dport ${FILTERED_PORT} drop\n }\n}\n`;
    const nft = Bun.spawn(["ip", "netns", "exec", a.ns, "nft", "-f", "-"], { stdin: new TextEncoder().encode(ruleset), stderr: "pipe", env: { ...process.env, PATH } });
    if ((await nft.exited) !== 0) throw new Error(`nft -f: ${await new Response(nft.stderr).text()}`);
    const args = ["run", "--interfaces", a.ifname, "--cache-active-timeout", "1s", "--api", API, "--enable-drops", "--enable-rtt", "--enable-dns"];
    await using agent = await AgentProcess.start(args, { ns: a.ns });
    expect(agent.stderr).not.toContain("drops are off");

    expect(await sendDatagrams(b, a.ipv4, CLOSED_PORT, 41209, SENT)).toBe(0);
    expect(await sendDatagrams(a, b.ipv4, FILTERED_PORT, 41210, 10)).toBe(10);
    expect(await sendDatagrams(a, b.ipv4, 53, 41211, QUERIES, DNS_QUERY)).toBe(0);
    const server = Bun.spawn(["ip", "netns", "exec", b.ns, "python3", "-c", `import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',${TCP_PORT}))\ns.listen()\nc,_=s.accept()\nwhile c.recv(65536): pass`], { stdout: "ignore", stderr: "ignore" });
    try {
      await waitFor("the TCP server", async () => (await $`ip netns exec ${b.ns} ss -Hltn sport = :${TCP_PORT}`.text()).trim() !== "");
      await $`ip netns exec ${a.ns} python3 -c ${`import socket,time\ns=socket.create_connection(('${b.ipv4}',${TCP_PORT}))\nfor i in range(20):\n  s.send(b'x'*10000)\n  time.sleep(0.05)`}`;
    } finally {
      server.kill();
      await server.exited;
    }

    const dropped = () => agent.flows.filter((f) => f.direction === "ingress" && f.dstPort === CLOSED_PORT && f.interface === a.ifname);
    const sum = (f: (x: ReturnType<typeof dropped>[number]) => number) => dropped().reduce((n, x) => n + f(x), 0);
    await waitFor("the flow's drops to reach what was sent", () => sum((f) => f.drops?.packets ?? 0) >= SENT, {
      state: () => dropped().map((f) => [f.packets, f.drops]),
    });
    // Each datagram passed TC ingress (counted) and was then freed by udp_rcv: every one on its flow, as NO_SOCKET.
    expect(sum((f) => f.packets)).toBe(SENT);
    expect(sum((f) => f.drops?.packets ?? 0)).toBe(SENT);
    expect(new Set(dropped().flatMap((f) => (f.drops ? [f.drops.reason] : [])))).toEqual(new Set(["NO_SOCKET"]));
    // The output rule's drops: no packet on TC, a drop-only flow (after waiting one eviction for its flow).
    const dropOnly = () => agent.flows.filter((f) => f.dstPort === FILTERED_PORT && f.packets === 0 && f.drops);
    await waitFor("the drop-only flow", () => dropOnly().length > 0);

    let status: AgentStatusReport | undefined;
    await waitFor("Status to count the RTT flows and the drop-only flow", async () => {
      status = await statusIn(a.ns, API);
      return (status.rtt?.flows ?? 0) >= 2 && (status.drops?.dropOnlyFlows ?? 0) >= 1;
    }, { state: () => status && { rtt: status.rtt, drops: status.drops } });
    const drops = status!.drops!;
    expect(drops.unavailable).toBeUndefined();
    expect(drops.recorded).toBeGreaterThanOrEqual(SENT + 10);
    expect(drops.dropOnlyFlows).toBeGreaterThanOrEqual(1);
    expect(drops.reasons.find((r) => r.reason === "NO_SOCKET")?.packets).toBeGreaterThanOrEqual(SENT);
    expect(drops.reasons.find((r) => r.reason === "NETFILTER_DROP")?.packets).toBeGreaterThanOrEqual(10);
    expect(drops.reasons.map((r) => r.packets)).toEqual(drops.reasons.map((r) => r.packets).sort((x, y) => y - x));
    // The connection's records, drained at evictions; both directions' flows carry its RTT.
    expect(status!.rtt!.connections).toBeGreaterThanOrEqual(1);
    expect(status!.dns).toMatchObject({ port: 53, responses: 0, matched: 0 });
    expect(status!.dns!.queries).toBeGreaterThanOrEqual(QUERIES);
    const { reasons, ...counters } = drops;
    console.log(`Status drops ${JSON.stringify(counters)}, reasons ${reasons.map((r) => `${r.reason}(${r.code}) ${r.packets}`).join(", ")}; rtt ${JSON.stringify(status!.rtt)}; dns ${JSON.stringify(status!.dns)}`);

    await using http = new HttpRelay(a.ns);
    const text = (await http.get(`http://${API}/metrics`)).body;
    const samples = metricSamples(text);
    expect(samples.get('netflow_agent_drops_total{reason="NO_SOCKET"}')).toBeGreaterThanOrEqual(SENT);
    expect(samples.get("netflow_agent_drop_tracer_loaded")).toBe(1);
    expect(samples.get("netflow_agent_drops_recorded_total")).toBeGreaterThanOrEqual(SENT + 10);
    expect(samples.get("netflow_agent_drop_only_flows_total")).toBe(drops.dropOnlyFlows);
    expect(samples.get("netflow_agent_rtt_connections_total")).toBeGreaterThanOrEqual(status!.rtt!.connections);
    expect(samples.get('netflow_agent_dns_messages_total{kind="query"}')).toBeGreaterThanOrEqual(QUERIES);
    // Host-wide drops keep coming (other namespaces): one scrape's figures, each drop in exactly one bucket.
    const total = [...samples].filter(([series]) => series.startsWith("netflow_agent_drops_total{")).reduce((n, [, v]) => n + v, 0);
    const placed = [...samples].filter(([series]) => /^netflow_agent_drops_(recorded|unrecorded)_total\b/.test(series)).reduce((n, [, v]) => n + v, 0);
    // The reasons are read before the counters: a drop between the two reads is in `placed` only (a few, unless the
    // host drops at a flood's rate meanwhile); counted twice it would be twice as many.
    expect(placed).toBeGreaterThanOrEqual(total);
    expect(placed).toBeLessThan(total * 1.05 + 100);
    expect(await promtoolCheck(text)).toEqual({ code: 0, output: "" });
    expect(await agent.stop()).toBe(0);
    // Every flow Status counted was written (stdout may lag Status, and later evictions may add more).
    expect(agent.flows.filter((f) => f.rtt).length).toBeGreaterThanOrEqual(status!.rtt!.flows);
    expect(agent.flows.filter((f) => f.dstPort === FILTERED_PORT && f.packets === 0 && f.drops).length).toBeGreaterThanOrEqual(drops.dropOnlyFlows);
  },
  120_000,
);

kernelTest("a drop tracer that cannot load: one warning, Status drops.unavailable says why, the rest runs", async () => {
  const warnings: string[] = [];
  const log = createLogger("warn", (line) => warnings.push(line));
  const options = { interfaces: "no-such-if0", attachMode: "auto" as const, maxFlows: 4096, minFlows: 4096, activeTimeoutMs: 60_000, interfacePollMs: 60_000 };
  await using agent = await Agent.start({ ...options, drops: true, dropsObjectBytes: new Uint8Array(64) }, [], log);
  const dropWarnings = warnings.filter((line) => line.includes("drops are off"));
  expect(dropWarnings).toHaveLength(1);
  const status = agent.status();
  expect(status.drops).toMatchObject({ recorded: 0, mapFull: 0, dropOnlyFlows: 0, reasons: [] });
  const why = status.drops!.unavailable!;
  expect(why).toEndWith("(--enable-drops needs kernel BTF, kernel 5.17+ and CAP_PERFMON)");
  expect(why).not.toContain("\n");
  expect(dropWarnings[0]).toContain(why.slice(0, why.indexOf(" (--enable-drops")));
  expect(statusResponse(status, { hostname: "h", agentId: "i", agentVersion: "v" }, 0).drops?.unavailable).toBe(why);
  const text = renderAgentMetrics({ version: "v", status, watchers: 0, evictionSeconds: new Histogram(EVICTION_SECONDS_BUCKETS).series(), ready: true, healthy: true });
  expect(metricSamples(text).get("netflow_agent_drop_tracer_loaded")).toBe(0);
  // Without --enable-drops: no drops in Status at all.
  await using plain = await Agent.start(options, [], log);
  expect(plain.status().drops).toBeUndefined();
});
