/** Processes on this host by parent, read from /proc: to stop a command together with its children. */
import { readFileSync, readdirSync } from "node:fs";

/** The PID and every descendant of it (host PIDs), the PID first. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and ")", so read after the last ")"
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid);
    if (list) list.push(Number(e));
    else children.set(ppid, [Number(e)]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** SIGKILLs a process and its descendants (those alive); no error for those already gone. */
export function killTree(root: number): void {
  if (root <= 0) return;
  for (const p of processTree(root)) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
}
