/** PATH directories for tests of the host-program checks; removed when the test process exits. */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram } from "../../src/core/host.js";

const made: string[] = [];
process.on("exit", () => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

function pathDir(): string {
  const d = mkdtempSync(join(tmpdir(), "kinda-path-"));
  made.push(d);
  return d;
}

/** A PATH of one directory with (empty) executables of these names, and a non-executable "plain". */
export function pathWith(names: readonly string[]): string {
  const d = pathDir();
  for (const n of names) writeFileSync(join(d, n), "#!/bin/sh\n", { mode: 0o755 });
  writeFileSync(join(d, "plain"), "");
  return d;
}

/** A PATH of one directory linking to the real programs of these names found here, except `without`. */
export function pathWithout(without: string, names: readonly string[]): string {
  const d = pathDir();
  for (const name of names) {
    const at = findProgram(name);
    if (at && name !== without) symlinkSync(at, join(d, name));
  }
  return d;
}
