import { KindaError, TopologyError } from "../core/errors.js";

/** What the user sees of an error: the message and hint; a stack only with KINDA_DEBUG=1. Returns the exit code. */
export function report(e: unknown): number {
  const debug = process.env["KINDA_DEBUG"] === "1";
  if (e instanceof KindaError) {
    process.stderr.write(`kinda: ${e instanceof TopologyError ? "" : "error: "}${e.message}\n`);
    if (e.hint) process.stderr.write(`  hint: ${e.hint}\n`);
    if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
    return e instanceof TopologyError ? 2 : 1;
  }
  const err = e instanceof Error ? (e as NodeJS.ErrnoException) : undefined;
  const what = err ? `${err.code ? `${err.code}: ` : ""}${err.message}` : String(e);
  process.stderr.write(`kinda: unexpected error: ${what}\n`);
  if (debug) process.stderr.write(`${err?.stack ?? ""}\n`);
  else process.stderr.write("  hint: KINDA_DEBUG=1 shows where it happened; please report it (SECURITY.md for security problems)\n");
  return 1;
}
