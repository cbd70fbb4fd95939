/**
 * `run --metrics`: documented in --help; bad values and an address in use are
 * one line and exit 2, found before anything is loaded into the kernel (the
 * listener is bound first); a port alone listens on 127.0.0.1.
 */
import { expect, test } from "bun:test";
import net, { type AddressInfo } from "node:net";
import { cliPath } from "../helpers/agent-process.ts";

async function cli(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, cliPath, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", COLUMNS: "200", ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, lines: stderr.trim().split("\n") };
}

/** Holds a port on 127.0.0.1 for `body`. */
async function holdingPort<T>(body: (port: number) => Promise<T>): Promise<T> {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  try {
    return await body((holder.address() as AddressInfo).port);
  } finally {
    holder.close();
  }
}

test("--help documents --metrics, its default and NETFLOW_METRICS; --api mentions the endpoints it serves too", async () => {
  const { code, stdout } = await cli(["run", "--help"]);
  expect(code).toBe(0);
  const help = stdout.replace(/\s+/g, " ");
  expect(help).toContain(
    "--metrics <host:port|off> also serve GET /metrics (Prometheus), /healthz and /readyz on a listener of their own, without the flows API; a port alone listens on 127.0.0.1 (default: off, env: NETFLOW_METRICS)",
  );
  expect(help).toContain("and GET /metrics, /healthz, /readyz; off disables it (default: 127.0.0.1:9990, env: NETFLOW_API)");
});

const usage = (value: string) =>
  `netflow-agent: error: --metrics "${value}" must be host:port, a port (on 127.0.0.1) or off, with port 0-65535 (examples: 127.0.0.1:9101, 9101, [::1]:9101)`;

test.each(["127.0.0.1", "70000", "localhost:http", "on", "127.0.0.1:65536", ""])("--metrics %p: one line, exit 2", async (value) => {
  expect(await cli(["run", "--metrics", value])).toMatchObject({ code: 2, lines: [usage(value)] });
});

test("NETFLOW_METRICS is validated the same way", async () => {
  expect(await cli(["run"], { NETFLOW_METRICS: "metrics.example" })).toMatchObject({ code: 2, lines: [usage("metrics.example")] });
});

test("the metrics port in use: one line naming --metrics and the address, exit 2, before anything is loaded", async () => {
  await holdingPort(async (port) => {
    // A port alone is 127.0.0.1's. --log-level debug: loading the BPF object would add libbpf's lines.
    const r = await cli(["run", "--api", "off", "--metrics", String(port), "--interfaces", "roughnone", "--log-level", "debug"]);
    expect(r).toMatchObject({ code: 2, lines: [`netflow-agent: error: --metrics 127.0.0.1:${port}: EADDRINUSE (the port is in use: pick another or stop what holds it)`] });
  });
});

test("--metrics on the --api address: the second listener is refused, exit 2", async () => {
  const port = await holdingPort(async (p) => p); // a port free a moment ago
  const r = await cli(["run", "--api", `127.0.0.1:${port}`, "--metrics", `127.0.0.1:${port}`, "--interfaces", "roughnone", "--log-level", "debug"]);
  expect(r).toMatchObject({ code: 2, lines: [`netflow-agent: error: --metrics 127.0.0.1:${port}: EADDRINUSE (the port is in use: pick another or stop what holds it)`] });
});
