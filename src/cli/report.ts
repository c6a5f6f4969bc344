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
  const lost = err && engineLost(err);
  if (lost) {
    process.stderr.write(`kinda: error: ${lost}\n`);
    process.stderr.write(
      "  hint: once the engine answers again (docker info), run the command again; what a failed up or down left, kinda down NAME removes\n",
    );
    if (debug) process.stderr.write(`${err.stack ?? ""}\n`);
    return 1;
  }
  const stuck = err && stuckRootfs(err.message);
  if (stuck) {
    process.stderr.write(`kinda: error: ${stuck.said}\n`);
    process.stderr.write(`  hint: ${stuck.hint}\n`);
    if (debug) process.stderr.write(`${err.stack ?? ""}\n`);
    return 1;
  }
  const what = err ? `${err.code ? `${err.code}: ` : ""}${err.message}` : String(e);
  process.stderr.write(`kinda: unexpected error: ${what}\n`);
  if (debug) process.stderr.write(`${err?.stack ?? ""}\n`);
  else process.stderr.write("  hint: KINDA_DEBUG=1 shows where it happened; please report it (SECURITY.md for security problems)\n");
  return 1;
}

/**
 * The Docker engine went away under a command (stopped, restarted): a connection to its socket
 * refused or missing, or a request cut off. Said as such, not as an unexpected error.
 */
function engineLost(err: NodeJS.ErrnoException & { address?: string }): string | undefined {
  const host = process.env["DOCKER_HOST"];
  const sock = host?.startsWith("unix://") ? host.slice("unix://".length) : host ? undefined : "/var/run/docker.sock";
  const why = `${err.code ? `${err.code}: ` : ""}${err.message}`;
  if (err.syscall === "connect" && sock !== undefined && err.address === sock && ["ENOENT", "ECONNREFUSED"].includes(err.code ?? ""))
    return `cannot reach the Docker engine at ${sock} (${why}): it stopped or is restarting`;
  if (err.code === "ECONNRESET" || err.message === "socket hang up")
    return `a connection was cut off (${why}): the Docker engine (or a cluster's API server) stopped or restarted during the command`;
  return undefined;
}

/**
 * The engine cannot remove a container because its root filesystem is still mounted: seen when the
 * engine stopped while it started that container (faults:engine, "starting 4 devices", 2026-12-07):
 * the overlay mount was left beneath the engine's own bind mount of its data root, where the engine
 * (even restarted) can neither unmount nor remove it. The engine's condition, not kinda's, and no
 * retry helps: said as such, with the way out that worked here.
 */
export function stuckRootfs(message: string): { said: string; hint: string } | undefined {
  const m = /failed to remove root filesystem: unlinkat (\S+): device or resource busy/.exec(message);
  if (!m) return undefined;
  return {
    said: `the Docker engine cannot remove a container: its root filesystem ${m[1]} is still mounted (device or resource busy)`,
    hint:
      `the engine left that mount when it stopped during a container start; stop the engine, \`umount ${m[1]}\`, ` +
      "start the engine again, then run kinda down NAME again",
  };
}
