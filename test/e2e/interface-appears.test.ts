/**
 * A selection that matches nothing yet (on a Kubernetes node the pods'
 * interfaces come later): the agent says so in one line naming the filter
 * and keeps running; the interface that appears is attached and its packets
 * counted. The filter is a regex with a comma in it (`{1,3}`), taken whole.
 */
import { $ } from "bun";
import { expect } from "bun:test";
import { AgentProcess } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import type { Host } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";

/** Two namespaces with only loopback; `link()` adds the veth pair between them later. */
class LateLink implements AsyncDisposable {
  readonly a: Host = { ns: `rough-a-${process.pid}`, ifname: "roughv7", ipv4: "198.18.251.1", ipv6: "fd00:fb::1", mac: "02:00:00:00:fb:01" };
  readonly b: Host = { ns: `rough-b-${process.pid}`, ifname: "roughx7", ipv4: "198.18.251.2", ipv6: "fd00:fb::2", mac: "02:00:00:00:fb:02" };

  static async create(): Promise<LateLink> {
    const link = new LateLink();
    try {
      for (const host of [link.a, link.b]) {
        await $`ip netns add ${host.ns}`.quiet();
        await $`ip -n ${host.ns} link set lo up`.quiet();
      }
    } catch (error) {
      await link[Symbol.asyncDispose]();
      throw error;
    }
    return link;
  }

  async link() {
    const { a, b } = this;
    await $`ip -n ${a.ns} link add ${a.ifname} address ${a.mac} type veth peer name ${b.ifname} netns ${b.ns} address ${b.mac}`.quiet();
    for (const [host, peer] of [[a, b], [b, a]] as const) {
      await $`ip -n ${host.ns} addr add ${host.ipv4}/24 dev ${host.ifname}`.quiet();
      await $`ip -n ${host.ns} link set ${host.ifname} up`.quiet();
      await $`ip -n ${host.ns} neigh replace ${peer.ipv4} lladdr ${peer.mac} dev ${host.ifname} nud permanent`.quiet();
    }
  }

  async [Symbol.asyncDispose]() {
    await $`ip netns del ${this.a.ns}`.quiet().nothrow();
    await $`ip netns del ${this.b.ns}`.quiet().nothrow();
  }
}

kernelTest("no interface matches: one line naming the filter, waiting; the one that appears is attached and counted", async () => {
  await using hosts = await LateLink.create();
  const { a, b } = hosts;
  const filter = "/^rough(v|w)[0-9]{1,3}/";
  const waiting = `netflow-agent: warn: capturing on no interface yet: none matches --interfaces '${filter}'; waiting for one to appear (looking every 200 ms)\n`;
  await using agent = await AgentProcess.start(
    ["run", "--interfaces", filter, "--interface-poll-interval", "200ms", "--cache-active-timeout", "500ms", "--api", "off"],
    { ns: a.ns, readyText: "waiting for one to appear" },
  );
  // A few polls and an eviction later: still running, still that one line (no "capturing on 0 interface(s): ;").
  await Bun.sleep(1000);
  expect(agent.stderr).toBe(waiting);

  await hosts.link();
  await waitFor("the agent to attach to the new interface", () => agent.stderr.includes(`attached to ${a.ifname} (`), { state: () => agent.stderr });
  expect(agent.stderr).not.toContain(b.ifname);

  const receiver = await receiveUdp(b, b.ipv4, 7100, 20);
  expect(await sendUdp(a, b.ipv4, 7100, 41000, 20, 100)).toBe(20);
  expect(await receiver.done()).toBe(20);
  const sent = () => agent.flows.filter((f) => f.interface === a.ifname && f.direction === "egress" && f.dstPort === 7100);
  const total = () => sent().reduce((sum, f) => ({ packets: sum.packets + f.packets, bytes: sum.bytes + f.bytes }), { packets: 0, bytes: 0 });
  await waitFor("the 20 datagrams in the exported flows", () => total().packets >= 20, { state: total });
  expect(total()).toEqual({ packets: 20, bytes: 20 * udpFrameBytes(100, false) });

  expect(await agent.stop()).toBe(0);
  expect(agent.stderr).toStartWith(waiting);
  expect(agent.stderr).not.toContain("interface(s)");
}, 60000);
