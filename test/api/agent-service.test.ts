/**
 * AgentService on a real Connect server (127.0.0.1, ephemeral port) read with
 * the Watch client `top` uses: filtering on the server, status, bad filters,
 * a slow reader losing the oldest batches without holding the agent, shutdown.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createAgentApi, statusResponse, type AgentApi } from "../../src/api/agent-service.ts";
import { fromBatchMessage } from "../../src/api/flow-message.ts";
import { fetchStatus, watchFlows, type WatchedBatch } from "../../src/api/watch-client.ts";
import { AgentService, type WatchResponse } from "../../src/gen/netflow/v1/agent_pb.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { startConnectServer, type ConnectServer } from "../../src/net/connect-server.ts";
import { batchOf, ipv4, ipv6, plainBatch, udpFlow } from "./flow-fixtures.ts";
import { PublishedFlows, until } from "./flow-source.ts";

const identity = { hostname: "node-a", agentId: "3f1c0b8e-0000-4000-8000-000000000001", agentVersion: "0.1.0" };
let server: ConnectServer | undefined;

async function serve(source: PublishedFlows, watchBufferBatches?: number): Promise<{ api: AgentApi; target: string }> {
  const api = createAgentApi(source, identity, { watchBufferBatches });
  server = await startConnectServer({ listen: { host: "127.0.0.1", port: 0 }, routes: (r) => r.service(AgentService, api.implementation) });
  return { api, target: `127.0.0.1:${server.address.port}` };
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Starts a Watch and collects what it yields until aborted or ended. */
function collect(target: string, filter = {}) {
  const abort = new AbortController();
  const received: WatchedBatch[] = [];
  const done = (async () => {
    for await (const batch of watchFlows(target, filter, abort.signal)) received.push(batch);
  })();
  return { received, abort, done };
}

const container = "3f2a9c01b7e4".padEnd(64, "0");
const dns = udpFlow({
  dstPort: 53, bytes: 80, packets: 1,
  owner: { source: "socket", pid: 300, comm: "systemd-resolve", cgroupId: 40, socketCookie: 7, cgroupPath: "/system.slice/systemd-resolved.service" },
});
const tcp6 = udpFlow({
  ethType: 0x86dd, protocol: 6, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), dstAddr: ipv6("fd00:0:0:0:0:0:0:2"), srcPort: 443, dstPort: 50000,
  owner: { source: "listener", pid: 4242, comm: "nginx", cgroupId: 41, socketCookie: 8, cgroupPath: `/system.slice/docker-${container}.scope`, containerId: container },
});
const other = udpFlow({ interface: "eth0", ifindex: 2, srcAddr: ipv4("10.1.2.3"), dstAddr: ipv4("10.9.9.9"), srcPort: 1234, dstPort: 4321 });

describe("Watch", () => {
  test("every eviction, flows as published, in order", async () => {
    const source = new PublishedFlows();
    const { target } = await serve(source);
    const watch = collect(target);
    await until(() => source.subscribers === 1, 3000, "the stream to subscribe");
    const first = batchOf([dns, tcp6, other], 1_764_000_010_000);
    const second = batchOf([], 1_764_000_015_000);
    const expected = [plainBatch({ ...first, droppedBatches: 0 }), plainBatch({ ...second, droppedBatches: 0 })];
    source.publish(first); // overwrites its columns afterwards, as the next eviction would
    source.publish(second);
    await until(() => watch.received.length === 2);
    watch.abort.abort();
    await watch.done;
    expect(watch.received.map(plainBatch)).toEqual(expected);
    await until(() => source.subscribers === 0, 3000, "the stream to unsubscribe");
  });

  const filters: [string, object, (typeof dns)[]][] = [
    ["IPv4 CIDR", { cidrs: ["10.0.0.0/8"] }, [other]],
    ["IPv6 CIDR", { cidrs: ["fd00::/8"] }, [tcp6]],
    ["single address, either side", { cidrs: ["10.9.9.9"] }, [other]],
    ["port, either side", { ports: [443] }, [tcp6]],
    ["protocol by name", { protocols: ["TCP"] }, [tcp6]],
    ["protocol by number", { protocols: ["17"] }, [dns, other]],
    ["interface", { interfaces: ["eth0"] }, [other]],
    ["lists AND, entries OR", { protocols: ["udp"], ports: [53, 4321], interfaces: ["veth-a"] }, [dns]],
    ["process id", { pids: [4242] }, [tcp6]],
    ["command name", { comms: ["systemd-resolve", "nginx"] }, [dns, tcp6]],
    ["cgroup path and below", { cgroupPaths: ["/system.slice"] }, [dns, tcp6]],
    ["container id prefix", { containerIds: ["3f2a9c"] }, [tcp6]],
    ["owner and port", { comms: ["nginx"], ports: [53] }, []],
  ];
  for (const [name, filter, expected] of filters)
    test(`filter: ${name}`, async () => {
      const source = new PublishedFlows();
      const { target } = await serve(source);
      const watch = collect(target, filter);
      await until(() => source.subscribers === 1);
      source.publish(batchOf([dns, tcp6, other]));
      await until(() => watch.received.length === 1);
      watch.abort.abort();
      await watch.done;
      expect(watch.received[0]!.flows.records()).toEqual(expected);
    });

  const badFilters: [object, string][] = [
    [{ cidrs: ["10.0.0.0/33"] }, 'filter.cidrs "10.0.0.0/33" must be an IPv4 or IPv6 address or CIDR (examples: 10.0.0.0/8, fd00::/8, 192.0.2.7)'],
    [{ ports: [70000] }, "filter.ports 70000 must be >= 1 and <= 65535"],
    [{ protocols: ["tcpp"] }, 'filter.protocols "tcpp" must be a protocol number 0-255 or one of: icmp, igmp, ipip, tcp, udp, ipv6, gre, esp, ah, icmpv6, ipv6-icmp, ospf, vrrp, sctp, udplite'],
    [{ interfaces: ["a b"] }, 'filter.interfaces "a b" must be an interface name (1-15 characters, no spaces or "/")'],
    [{ pids: [0] }, "filter.pids 0 must be >= 1 and <= 4194304"],
    [{ containerIds: ["xyz"] }, 'filter.container_ids "xyz" must be a container id or its prefix (1-64 hex digits)'],
  ];
  for (const [filter, message] of badFilters)
    test(`bad filter ${JSON.stringify(filter)}: INVALID_ARGUMENT naming the value`, async () => {
      const { target } = await serve(new PublishedFlows());
      const error = await (async () => {
        for await (const _ of watchFlows(target, filter)) return undefined;
      })().then(() => undefined, (e) => ConnectError.from(e));
      expect({ code: error?.code, message: error?.rawMessage }).toEqual({ code: Code.InvalidArgument, message });
    });

  test("a reader that stalls loses the oldest batches, counted; publishing never waits", async () => {
    const source = new PublishedFlows();
    const { target } = await serve(source, 4);
    const abort = new AbortController();
    const stream = watchFlows(target, {}, abort.signal)[Symbol.asyncIterator]();
    const firstRead = stream.next();
    await until(() => source.subscribers === 1);
    source.publish(batchOf([dns], 1_764_000_000_000));
    expect((await firstRead).value!.droppedBatches).toBe(0);
    // Now nobody reads. ~200 KB per batch: far more than HTTP/2 flow control and socket buffers hold.
    const big = Array.from({ length: 2000 }, (_, i) => udpFlow({ srcPort: i + 1 }));
    const published = 60;
    let publishMs = 0; // the longest publish: what the agent's eviction would wait
    for (let i = 1; i <= published; i++) {
      const started = performance.now();
      source.publish(batchOf(big, 1_764_000_000_000 + i));
      publishMs = Math.max(publishMs, performance.now() - started);
      await Bun.sleep(5); // the server's stream gets to write, and blocks on flow control
    }
    let received = 0;
    let dropped = 0;
    let lastEvictedAt = 0;
    while (received + dropped < published) {
      const { value } = await stream.next();
      received++;
      dropped += value!.droppedBatches;
      expect(value!.evictedAtMs).toBeGreaterThan(lastEvictedAt);
      lastEvictedAt = value!.evictedAtMs;
    }
    abort.abort();
    await stream.return?.(undefined);
    expect(received + dropped).toBe(published);
    expect(dropped).toBeGreaterThan(0);
    console.error(`slow reader: ${received} of ${published} batches received, ${dropped} dropped, longest publish ${publishMs.toFixed(2)} ms`);
    expect(lastEvictedAt).toBe(1_764_000_000_000 + published); // the newest is never the one dropped
    // publish() is synchronous (the listener encodes the batch and pushes the bytes into the bounded
    // buffer, whatever the reader does); the longest publish time above is a figure to read, not a
    // timed assertion that would flake under load.
  });

  test("streams with the same filter however written share one subscription; each gets its own flows", async () => {
    const source = new PublishedFlows();
    const { api, target } = await serve(source);
    const udpA = collect(target, { protocols: ["udp"], ports: [53, 4321] });
    const udpB = collect(target, { ports: [4321, 53], protocols: ["17"] });
    const eth0 = collect(target, { interfaces: ["eth0"] });
    await until(() => api.watchers === 3);
    expect(source.subscribers).toBe(1);
    source.publish(batchOf([dns, tcp6, other]));
    await until(() => udpA.received.length + udpB.received.length + eth0.received.length === 3);
    for (const w of [udpA, udpB, eth0]) w.abort.abort();
    await Promise.all([udpA.done, udpB.done, eth0.done]);
    expect([udpA, udpB, eth0].map((w) => w.received[0]!.flows.records())).toEqual([[dns, other], [dns, other], [other]]);
    await until(() => source.subscribers === 0, 3000, "the last stream to unsubscribe");
  });

  test("a JSON client (Connect protocol, HTTP/1.1) gets the same batch", async () => {
    const source = new PublishedFlows();
    const { target } = await serve(source);
    const client = createClient(AgentService, createConnectTransport({ baseUrl: `http://${target}`, httpVersion: "1.1", useBinaryFormat: false }));
    const abort = new AbortController();
    const responses = client.watch({ filter: { ports: [443] } }, { signal: abort.signal })[Symbol.asyncIterator]();
    const first = responses.next();
    await until(() => source.subscribers === 1);
    const batch = batchOf([dns, tcp6, other], 1_764_000_020_000);
    const expected = plainBatch(batchOf([tcp6], 1_764_000_020_000));
    source.publish(batch);
    const response = (await first).value as WatchResponse;
    abort.abort();
    expect(plainBatch(fromBatchMessage(response.batch!))).toEqual(expected);
    expect(response.droppedBatches).toBe(0n);
  });

  test("a batch that cannot be encoded ends its streams with INTERNAL; the agent's call returns", async () => {
    const source = new PublishedFlows();
    const { target } = await serve(source);
    const error = (async () => {
      for await (const _ of watchFlows(target)) {
      }
    })().then(() => undefined, (e) => ConnectError.from(e));
    await until(() => source.subscribers === 1);
    const good = batchOf([dns]).flows;
    const unnamed = new FlowColumns(good.keys, good.metrics, 1, good.startMs, good.endMs, () => {
      throw new Error("no name for ifindex 7");
    });
    source.publish({ ...batchOf([]), flows: unnamed }); // does not throw
    expect({ code: (await error)?.code, message: (await error)?.rawMessage }).toEqual({
      code: Code.Internal,
      message: "encoding an eviction for Watch: no name for ifindex 7",
    });
    await until(() => source.subscribers === 0);
  });

  test("endStreams: open streams get what is buffered, then end cleanly", async () => {
    const source = new PublishedFlows();
    const { api, target } = await serve(source);
    const watch = collect(target);
    await until(() => source.subscribers === 1);
    source.publish(batchOf([dns]));
    await api.endStreams();
    expect(api.watchers).toBe(0);
    await watch.done;
    expect(watch.received.map((b) => b.flows.records())).toEqual([[dns]]);
  });

  test("server closing: open streams fail with UNAVAILABLE", async () => {
    const source = new PublishedFlows();
    const { target } = await serve(source);
    const error = (async () => {
      for await (const _ of watchFlows(target)) {
      }
    })().then(() => undefined, (e) => ConnectError.from(e));
    await until(() => source.subscribers === 1);
    await server!.close();
    expect((await error)?.code).toBe(Code.Unavailable);
  });
});

test("Status: every field of AgentStatus, identity, open watchers", async () => {
  const source = new PublishedFlows();
  const { target } = await serve(source);
  const watch = collect(target);
  await until(() => source.subscribers === 1);
  const status = await fetchStatus(target);
  watch.abort.abort();
  await watch.done;
  expect(status).toEqual({ ...source.statusNow, agent: identity, watchers: 1, filtered: { packets: 0, bytes: 0 } });
  source.statusNow.lastEviction = undefined;
  await until(() => source.subscribers === 0);
  source.statusNow.sampling = 100;
  source.statusNow.filter = { rules: 2, defaultAction: "accept", byRule: [], byDefault: { packets: 0, bytes: 0 }, total: { packets: 7, bytes: 700 } };
  const { filter: _, ...withoutRules } = source.statusNow; // the rules themselves are not in StatusResponse
  expect(await fetchStatus(target)).toEqual({ ...withoutRules, agent: identity, watchers: 0, filtered: { packets: 7, bytes: 700 } });
});

test("no agent at the target: UNAVAILABLE", async () => {
  const probe = await startConnectServer({ listen: { host: "127.0.0.1", port: 0 }, routes: () => {} });
  const port = probe.address.port;
  await probe.close();
  const error = await fetchStatus(`127.0.0.1:${port}`).then(() => undefined, (e) => ConnectError.from(e));
  expect(error?.code).toBe(Code.Unavailable);
});

describe("Status: the enrichments' trackers", () => {
  const dnsOn = { port: 53, queries: 120, responses: 118, matched: 117, malformed: 2 };
  const rttOn = { connections: 31, flows: 58 };
  const dropsOn = {
    recorded: 40, mapFull: 1, notIp: 3, noDevice: 0, otherNetns: 9, dropOnlyFlows: 2, unwatchedDevicePackets: 7,
    reasons: [
      { reason: "NO_SOCKET", code: 3, packets: 30 },
      { reason: "NETFILTER_DROP", code: 8, packets: 20 },
      { reason: "OTHER", code: 511, packets: 3 },
    ],
  };

  test("each is unset when its feature was not asked for", () => {
    const message = statusResponse(new PublishedFlows().status(), identity, 0);
    expect([message.dns, message.rtt, message.drops]).toEqual([undefined, undefined, undefined]);
  });

  test("AgentStatus → StatusResponse: every counter, reasons in order", () => {
    const status = { ...new PublishedFlows().status(), dns: dnsOn, rtt: rttOn, drops: dropsOn };
    const message = statusResponse(status, identity, 0);
    const plain = (m: object) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== "$typeName"));
    expect(plain(message.dns!)).toEqual({ port: 53, queries: 120n, responses: 118n, matched: 117n, malformed: 2n });
    expect(plain(message.rtt!)).toEqual({ connections: 31n, flows: 58n });
    const { reasons, ...counters } = plain(message.drops!) as { reasons: object[] };
    expect(counters).toEqual({ unavailable: "", recorded: 40n, mapFull: 1n, notIp: 3n, noDevice: 0n, otherNetns: 9n, dropOnlyFlows: 2n, unwatchedDevicePackets: 7n });
    expect(reasons.map(plain)).toEqual([
      { reason: "NO_SOCKET", code: 3, packets: 30n },
      { reason: "NETFILTER_DROP", code: 8, packets: 20n },
      { reason: "OTHER", code: 511, packets: 3n },
    ]);
  });

  test("a drop tracer that could not load: the reason, every count 0; the others still reported", () => {
    const why = "attaching tp_btf/kfree_skb (drop_trace): EPERM (operation not permitted) — run as root or grant CAP_BPF and CAP_PERFMON (--enable-drops needs kernel BTF, kernel 5.17+ and CAP_PERFMON)";
    const unavailable = { unavailable: why, recorded: 0, mapFull: 0, notIp: 0, noDevice: 0, otherNetns: 0, dropOnlyFlows: 0, unwatchedDevicePackets: 0, reasons: [] };
    const message = statusResponse({ ...new PublishedFlows().status(), rtt: rttOn, drops: unavailable }, identity, 0);
    expect(message.drops?.unavailable).toBe(why);
    expect([message.drops?.recorded, message.drops?.reasons.length, message.rtt?.flows, message.dns]).toEqual([0n, 0, 58n, undefined]);
  });

  test("round trip through the API: what the client reads is what the agent reported", async () => {
    const source = new PublishedFlows();
    const { target } = await serve(source);
    Object.assign(source.statusNow, { dns: dnsOn, rtt: rttOn, drops: dropsOn });
    const report = await fetchStatus(target);
    expect([report.dns, report.rtt, report.drops]).toEqual([dnsOn, rttOn, dropsOn]);
    expect(report.drops).not.toHaveProperty("unavailable");
    source.statusNow.drops = { ...dropsOn, unavailable: "no kernel BTF", reasons: [] };
    source.statusNow.dns = undefined;
    const off = await fetchStatus(target);
    expect([off.dns, off.drops?.unavailable, off.drops?.reasons]).toEqual([undefined, "no kernel BTF", []]);
  });
});
