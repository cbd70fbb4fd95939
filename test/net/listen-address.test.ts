import { expect, test } from "bun:test";
import { hostPortText, parseHostPort } from "../../src/net/listen-address.ts";
import { targetUrl } from "../../src/net/transport.ts";

test("host:port forms", () => {
  expect(parseHostPort("--listen", "127.0.0.1:9999")).toEqual({ host: "127.0.0.1", port: 9999 });
  expect(parseHostPort("--listen", "[::1]:0")).toEqual({ host: "::1", port: 0 });
  expect(parseHostPort("--listen", "localhost:65535")).toEqual({ host: "localhost", port: 65535 });
  expect(hostPortText({ host: "::1", port: 9 })).toBe("[::1]:9");
  expect(hostPortText({ host: "10.0.0.1", port: 9 })).toBe("10.0.0.1:9");
});

test("bad host:port: the flag, the value and the expected form", () => {
  for (const bad of ["9999", "127.0.0.1", "127.0.0.1:65536", "::1:9999", "[::1]", "host :1", ":9999", "127.0.0.1:port"])
    expect(() => parseHostPort("--api", bad)).toThrow(`--api "${bad}" must be host:port with port 0-65535 (examples: 127.0.0.1:9990, [::1]:9990)`);
});

test("targets: host:port is h2c, URLs are kept", () => {
  expect(targetUrl("--connect", "127.0.0.1:9990")).toBe("http://127.0.0.1:9990");
  expect(targetUrl("--connect", "[::1]:9990")).toBe("http://[::1]:9990");
  expect(targetUrl("--connect", "https://collector.example:443/")).toBe("https://collector.example:443");
  for (const bad of ["9990", "ftp://x:1", "127.0.0.1:99999", "http://"])
    expect(() => targetUrl("--connect", bad)).toThrow(`--connect "${bad}" must be host:port or an http(s):// URL (example: 127.0.0.1:9990)`);
});
