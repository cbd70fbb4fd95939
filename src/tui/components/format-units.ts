/**
 * Figures in a few characters: decimal (SI) prefixes, as network rates are
 * quoted; rates in bytes or bits per second as the user toggles.
 */
import type { Units } from "../model/view-state.ts";

const prefixes = ["", "k", "M", "G", "T", "P"];

/** 0 → "0", 999 → "999", 1234 → "1.2k", 12345 → "12.3k", 123456 → "123k"; at most 5 characters. */
export function siNumber(value: number): string {
  let v = value;
  let p = 0;
  // 999.5 and up would print as "1000": that is the next prefix's "1.0".
  while (Math.abs(v) >= 999.5 && p < prefixes.length - 1) {
    v /= 1000;
    p++;
  }
  if (p === 0 && Number.isInteger(v)) return String(v);
  return `${Math.abs(v) >= 99.95 ? v.toFixed(0) : v.toFixed(1)}${prefixes[p]}`;
}

/** A byte rate as "12.3kB/s" or, in bits, "98.4kb/s". */
export function formatRate(bytesPerSecond: number, units: Units): string {
  return units === "bits" ? `${siNumber(bytesPerSecond * 8)}b/s` : `${siNumber(bytesPerSecond)}B/s`;
}

/** A byte count as "12.3kB" or, in bits, "98.4kb". */
export function formatVolume(bytes: number, units: Units): string {
  return units === "bits" ? `${siNumber(bytes * 8)}b` : `${siNumber(bytes)}B`;
}

/** "1s", "500ms", "1.5s". */
export function formatInterval(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}

/** A latency (DNS, RTT) in at most 5 characters: "35µs", "350µs", "4.2ms", "40ms", "1.5s", "12.3s". */
export function formatLatency(ns: number): string {
  const us = ns / 1e3;
  if (us < 999.5) return `${Math.round(us)}µs`;
  const ms = ns / 1e6;
  if (ms < 9.95) return `${ms.toFixed(1)}ms`;
  if (ms < 999.5) return `${Math.round(ms)}ms`;
  const s = ms / 1e3;
  return s < 99.95 ? `${s.toFixed(1)}s` : `${Math.round(s)}s`;
}
