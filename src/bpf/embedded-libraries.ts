/**
 * The libraries carried inside a compiled netflow-agent: none here. build.ts
 * compiles the executable with this module replaced (Bun.build `files`) by
 * one that embeds the build host's libbpf.so.1, libelf.so.1 and their
 * licence notices (`import … with { type: "file" }`), so run from source the
 * agent uses the system's libbpf, and the executable its own copy.
 */

/** Paths of embedded files: readable with node:fs for the life of the process. */
export interface EmbeddedLibraries {
  libbpf: string;
  libelf: string;
  /** Both libraries' copyright and licence notices, as text. */
  notices: string;
}

export const embeddedLibraries: EmbeddedLibraries | undefined = undefined;
