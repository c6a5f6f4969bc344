/**
 * Host processes by their /proc entries: a process named by its PID and start time (a PID alone
 * may be another process's by the time `down` reads it from the state), and its process group.
 */
import { readFileSync, readdirSync } from "node:fs";

/** The fields of /proc/PID/stat after "pid (comm)" (comm may hold spaces and ")"), or undefined when it is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** The process's start time (clock ticks since boot, /proc/PID/stat field 22), undefined once it is gone or a zombie. */
export function processStart(pid: number): string | undefined {
  const f = statFields(pid);
  return f && f[0] !== "Z" && f[0] !== "X" ? f[19] : undefined;
}

/** The process's arguments (/proc/PID/cmdline), [] when it is gone. */
export function processArgs(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
  } catch {
    return [];
  }
}

/** The living (not zombie) processes of process group `pgid`. */
export function processGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    if (f && f[0] !== "Z" && f[0] !== "X" && Number(f[2]) === pgid) out.push(Number(e));
  }
  return out;
}

/**
 * SIGKILLs process group `pgid` (its leader made it with setsid/detached) and waits, at most
 * `ms`, until none of it lives. Returns the PIDs still alive then (none, normally).
 */
export async function killGroup(pgid: number, ms = 15_000): Promise<number[]> {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // gone already
  }
  const end = Date.now() + ms;
  for (;;) {
    const alive = processGroup(pgid);
    if (!alive.length || Date.now() > end) return alive;
    await new Promise((r) => setTimeout(r, 100));
  }
}
