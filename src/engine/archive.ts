/**
 * The tar archive copied into a device before it starts: its lab folder (over `/`) and its
 * start-up scripts. Built before anything is created, so an unreadable or special file is a
 * clean error. Text files get CRLF turned into LF, as Kathara does.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, relative } from "node:path";
import { pack } from "tar-stream";
import type { Issue } from "../errors.js";
import type { DevicePlan } from "../plan/plan.js";

interface Entry {
  name: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  data?: Buffer;
  linkname?: string;
}

function toUnixText(buf: Buffer): Buffer {
  if (buf.includes(0) || !buf.includes("\r\n")) return buf;
  return Buffer.from(buf.toString("latin1").replace(/\r\n/g, "\n"), "latin1");
}

function walk(root: string, dir: string, out: Entry[], issues: Issue[], device: string): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    issues.push({ file: dir, device, message: `cannot read this folder of the device: ${(e as Error).message}` });
    return;
  }
  if (names.length === 0 && dir !== root) {
    out.push({ name: relative(root, dir), type: "directory", mode: lstatSync(dir).mode & 0o7777 });
  }
  for (const n of names) {
    const p = join(dir, n);
    try {
      const st = lstatSync(p);
      if (st.isDirectory()) walk(root, p, out, issues, device);
      else if (st.isFile()) out.push({ name: relative(root, p), type: "file", mode: st.mode & 0o7777, data: toUnixText(readFileSync(p)) });
      else if (st.isSymbolicLink()) out.push({ name: relative(root, p), type: "symlink", mode: 0o777, linkname: readlinkSync(p) });
      else issues.push({ file: p, device, message: "cannot be copied into the device: not a regular file, folder or symbolic link" });
    } catch (e) {
      issues.push({ file: p, device, message: `cannot be copied into the device: ${(e as Error).message}` });
    }
  }
}

/**
 * Entries for a device (folder content, then start-up and shutdown scripts); problems are
 * appended to `issues`. Directories are only listed when empty, so that copying `etc/x` does not
 * change the mode of the image's own /etc.
 */
export function collectDeviceFiles(dev: DevicePlan, issues: Issue[]): Entry[] {
  const out: Entry[] = [];
  if (dev.folder) walk(dev.folder, dev.folder, out, issues, dev.name);
  for (const s of [...dev.startup, ...dev.shutdown]) {
    if (s.kind !== "script") continue;
    try {
      out.push({ name: s.path.replace(/^\//, ""), type: "file", mode: 0o755, data: toUnixText(readFileSync(s.hostPath)) });
    } catch (e) {
      issues.push({ file: s.hostPath, device: dev.name, message: `cannot read: ${(e as Error).message}` });
    }
  }
  return out;
}

export async function tarOf(entries: readonly Entry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((res, rej) => {
    p.on("data", (c: unknown) => chunks.push(c as Buffer));
    p.on("end", () => res(Buffer.concat(chunks)));
    p.on("error", rej);
  });
  for (const e of entries) {
    const header = { name: e.name, mode: e.mode, uid: 0, gid: 0, type: e.type, mtime: new Date(0) } as const;
    if (e.type === "file") p.entry({ ...header, size: e.data?.length ?? 0 }, e.data ?? Buffer.alloc(0));
    else if (e.type === "symlink") p.entry({ ...header, linkname: e.linkname ?? "" });
    else p.entry(header);
  }
  p.finalize();
  return done;
}
