/**
 * Where the BPF parser differs from the reference today, each found by the
 * fuzz and reported (issue 12), with the smallest frame that shows it. The
 * fuzz test holds the parser to the reference with these readings swapped
 * in (PARSER_CHOICES), so everything else stays checked, and runs each
 * example against the contract's reading as an expected failure: once the
 * parser (or the contract) changes, that test fails and the entry goes.
 */
import { STANDARD, type ReferenceChoices } from "./reference-dissector.ts";

export interface KnownDivergence {
  name: string;
  /** The reading that matches the parser today. */
  parserReads: Partial<ReferenceChoices>;
  /** The contract's answer and the parser's, for the example. */
  expected: string;
  example: Uint8Array;
}

/**
 * None today. The two the fuzz found (an outer priority tag let the inner VID
 * through; an IPv6 fragment header cut after its offset field was read as
 * truncated) are fixed in parse.h and kept as edges in parser-fuzz.test.ts.
 */
export const KNOWN_DIVERGENCES: KnownDivergence[] = [];

/** The reference's choices with every known divergence's reading: what the parser does today. */
export const PARSER_CHOICES: ReferenceChoices = Object.assign({}, STANDARD, ...KNOWN_DIVERGENCES.map((d) => d.parserReads));
