/**
 * Stale entries leave when sockets close (src/process/closed-sockets.ts), on
 * real sockets: the hooks are attached to a child cgroup of the test's own
 * (only the helper process in it is seen), the helper holds a TCP listener
 * and a connection to it, then exits. The listener's port is freed by
 * sock_release itself; the sockets' owner entries, and the connection entry
 * TC would have written, stay for the grace period and leave once it is
 * over. The grace period runs on an injected clock: no 30 s wait.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import { SOCK_OWNER } from "../../src/bpf/flow-layout.ts";
import { mapLookup, mapNextKey } from "../../src/bpf/libbpf.ts";
import { ProcessHooks } from "../../src/bpf/process-hooks.ts";
import { connectionKey, listenerKey, writeConnection, writeSocketOwner, type ProcessMaps } from "../../src/bpf/process-maps.ts";
import { CLOSED_SOCKET_GRACE_MS, ClosedSockets } from "../../src/process/closed-sockets.ts";
import { TestCgroup } from "../helpers/cgroups.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { ProgramUnderTest } from "../helpers/test-run.ts";

const loopback = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]);
const cookieBytes = (cookie: bigint) => new Uint8Array(new BigUint64Array([cookie]).buffer);

/** Every sock_owners entry of `pid`, by cookie: its bound port. Read through the map's own iteration. */
function ownersOf(maps: ProcessMaps, pid: number): Map<bigint, { boundPort: number }> {
  const found = new Map<bigint, { boundPort: number }>();
  const key = new Uint8Array(8);
  const value = new Uint8Array(SOCK_OWNER.size);
  let previous: Uint8Array | null = null;
  while (mapNextKey(maps.ownersFd, previous, key)) {
    if (mapLookup(maps.ownersFd, key, value)) {
      const v = new DataView(value.buffer);
      if (v.getUint32(SOCK_OWNER.fields.pid.offset, true) === pid)
        found.set(new BigUint64Array(key.slice().buffer)[0]!, { boundPort: v.getUint16(SOCK_OWNER.fields.bound_port.offset, true) });
    }
    previous = key.slice();
  }
  return found;
}

const has = (fd: number, key: Uint8Array) => mapLookup(fd, key, new Uint8Array(8));

kernelTest("a closed socket's entries stay for the grace period, then leave the maps", async () => {
  await using cgroup = TestCgroup.create("closed-sockets");
  using prog = await ProgramUnderTest.load(64, undefined, undefined, undefined, true);
  const maps = prog.object.processes!;
  let nowMs = 1_000_000;
  using closed = new ClosedSockets(maps, CLOSED_SOCKET_GRACE_MS, () => nowMs);
  using _hooks = ProcessHooks.attach(maps, cgroup.dir);

  const holder = cgroup.spawn([process.execPath, join(import.meta.dir, "..", "helpers", "hold-tcp-connection.ts")], { stdout: "pipe" });
  const { listenPort, clientPort } = JSON.parse(await firstLine(holder.stdout as ReadableStream<Uint8Array>)) as { listenPort: number; clientPort: number };

  // The hooks saw both sockets the helper opened: the listener (with its port) and the client.
  const owned = ownersOf(maps, holder.pid);
  const listener = [...owned].find(([, o]) => o.boundPort === listenPort)?.[0];
  const client = [...owned].find(([, o]) => o.boundPort === 0)?.[0];
  expect(owned.size).toBe(2);
  expect(listener).toBeDefined();
  expect(client).toBeDefined();
  const port = listenerKey(maps.netnsCookie, 6, listenPort);
  expect(has(maps.listenersFd, port)).toBe(true);
  // What TC egress writes for the client's connection (the start-up scan writes the same).
  const local = { addr: loopback, port: clientPort };
  const remote = { addr: loopback, port: listenPort };
  writeSocketOwner(maps, client!, { pid: holder.pid, comm: "bun", cgroupId: BigInt(cgroup.id) }, { local });
  writeConnection(maps, 6, local, remote, client!);
  const connection = connectionKey(maps.netnsCookie, 6, local, remote);

  // Its exit closes both: sock_release runs in close(2), before the parent sees the exit.
  holder.kill("SIGKILL");
  await holder.exited;
  expect(has(maps.listenersFd, port)).toBe(false); // freed at once: a new server may bind the port
  closed.sweep();
  expect(closed.waiting).toBe(2);
  expect([...ownersOf(maps, holder.pid).keys()].sort()).toEqual([listener!, client!].sort());
  expect(has(maps.connectionsFd, connection)).toBe(true);

  nowMs += CLOSED_SOCKET_GRACE_MS - 1;
  closed.sweep();
  expect(ownersOf(maps, holder.pid).size).toBe(2); // the FIN and last ACKs still find their process
  expect(closed.removed).toBe(0);

  nowMs += 1;
  closed.sweep();
  expect(ownersOf(maps, holder.pid).size).toBe(0);
  expect(has(maps.ownersFd, cookieBytes(client!))).toBe(false);
  expect(has(maps.connectionsFd, connection)).toBe(false);
  expect({ removed: closed.removed, waiting: closed.waiting }).toEqual({ removed: 2, waiting: 0 });
}, 30_000);

kernelTest("a connection entry that names another socket by now is left alone", async () => {
  await using cgroup = TestCgroup.create("closed-reused");
  using prog = await ProgramUnderTest.load(64, undefined, undefined, undefined, true);
  const maps = prog.object.processes!;
  let nowMs = 0;
  using closed = new ClosedSockets(maps, 10, () => nowMs);
  using _hooks = ProcessHooks.attach(maps, cgroup.dir);
  const holder = cgroup.spawn([process.execPath, join(import.meta.dir, "..", "helpers", "hold-tcp-connection.ts")], { stdout: "pipe" });
  const { listenPort, clientPort } = JSON.parse(await firstLine(holder.stdout as ReadableStream<Uint8Array>)) as { listenPort: number; clientPort: number };
  const client = [...ownersOf(maps, holder.pid)].find(([, o]) => o.boundPort === 0)![0];
  const local = { addr: loopback, port: clientPort };
  const remote = { addr: loopback, port: listenPort };
  writeSocketOwner(maps, client, { pid: holder.pid, comm: "bun", cgroupId: BigInt(cgroup.id) }, { local });
  // The same 5-tuple, taken by a newer socket (cookie client + 1000) before the sweep.
  writeConnection(maps, 6, local, remote, client + 1000n);
  holder.kill("SIGKILL");
  await holder.exited;
  closed.sweep();
  nowMs += 10;
  closed.sweep();
  expect(closed.removed).toBe(2);
  const value = new Uint8Array(8);
  expect(mapLookup(maps.connectionsFd, connectionKey(maps.netnsCookie, 6, local, remote), value)).toBe(true);
  expect(new BigUint64Array(value.buffer)[0]).toBe(client + 1000n);
}, 30_000);

/** The first line a child prints. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the helper ended before printing a line: ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text.slice(0, text.indexOf("\n"));
}
