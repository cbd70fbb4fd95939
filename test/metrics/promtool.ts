/** `promtool check metrics` (Debian's prometheus package, installed by .ci/setup) on an exposition. */
export const promtoolPath = Bun.which("promtool");

/** promtool's verdict: exit code and what it printed (lint problems, one a line). */
export async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  if (!promtoolPath) throw new Error("promtool is not installed (apt-get install prometheus; .ci/setup does it)");
  const proc = Bun.spawn([promtoolPath, "check", "metrics"], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: (out + err).trim() };
}
