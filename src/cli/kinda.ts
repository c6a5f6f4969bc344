#!/usr/bin/env node
/**
 * The `kinda` command's entry (package.json's bin, bundled by scripts/bundle.mjs into dist/bin/):
 * the plain `kinda exec` form (and the `kinda DEVICE CMD` shorthand) runs here with only what it
 * needs (the Engine API client and the state store), so that it costs little more than
 * `docker exec`; every other command loads the full CLI (main.ts, commander).
 */
import { execIn } from "../app/exec.js";
import { expandShorthand, fastExec } from "./argv.js";
import { report } from "./report.js";

const fast = fastExec(expandShorthand(process.argv));
if (!fast) await import("./main.js");
else {
  try {
    const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    const r = await execIn(fast.device, fast.cmd, {
      ...(fast.lab ? { lab: fast.lab } : {}),
      interactive,
      stdin: !interactive && fast.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
    });
    process.exitCode = r.exitCode;
  } catch (e) {
    process.exitCode = report(e);
  }
}
