/** PATH directories for tests of the host-program checks. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A PATH of one directory with (empty) executables of these names, and a non-executable "plain". */
export function pathWith(names: readonly string[]): string {
  const d = mkdtempSync(join(tmpdir(), "kinda-path-"));
  for (const n of names) writeFileSync(join(d, n), "#!/bin/sh\n", { mode: 0o755 });
  writeFileSync(join(d, "plain"), "");
  return d;
}
