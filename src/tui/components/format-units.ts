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
