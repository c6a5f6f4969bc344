/**
 * Kernel networking through iproute2, one `ip -batch` process per namespace and step (not one
 * process per object). Namespaces are addressed by name (`ip -n`) or, for containers, by PID.
 */
import { existsSync } from "node:fs";
import { run, runChecked } from "./exec.js";

import type { Netns } from "../model/netns.js";

export type { Netns };

/** argv that runs `argv` inside the namespace. */
export function inNetns(ns: Netns, argv: string[]): string[] {
  if ("host" in ns) return argv;
  if ("name" in ns) return ["ip", "netns", "exec", ns.name, ...argv];
  return ["nsenter", "-t", String(ns.pid), "-n", ...argv];
}

function ipArgv(ns: Netns, extra: string[]): string[] {
  return "name" in ns ? ["ip", "-n", ns.name, ...extra] : inNetns(ns, ["ip", ...extra]);
}

/** Applies batch lines in one process; throws with the failing line on error. */
export async function ipBatch(ns: Netns, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await runChecked(ipArgv(ns, ["-batch", "-"]), lines.join("\n") + "\n");
}

/** Like ipBatch, but goes on past failing lines (for teardown); returns the stderr text. */
export async function ipBatchForce(ns: Netns, lines: readonly string[]): Promise<string> {
  if (lines.length === 0) return "";
  const r = await run(ipArgv(ns, ["-force", "-batch", "-"]), lines.join("\n") + "\n");
  return r.stderr;
}

export async function ipJson<T>(ns: Netns, args: string[]): Promise<T> {
  const out = await runChecked(ipArgv(ns, ["-json", ...args]));
  return JSON.parse(out || "[]") as T;
}

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`) || existsSync(`/var/run/netns/${name}`);
}

/** Creates a named namespace with IPv6 off (so its bridges say nothing into the lab's segments). */
export async function netnsAdd(name: string): Promise<void> {
  await runChecked(["ip", "netns", "add", name]);
  await runChecked([
    "ip",
    "netns",
    "exec",
    name,
    "sysctl",
    "-q",
    "-w",
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
  ]);
}

/** Deletes a named namespace (and every link in it); no error when it does not exist. */
export async function netnsDelete(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  await runChecked(["ip", "netns", "delete", name]);
}

export async function netnsList(): Promise<string[]> {
  const r = await run(["ip", "-json", "netns", "list"]);
  if (r.exitCode !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}
