/**
 * Network namespaces through iproute2 (made, listed, deleted), and the argv that runs a program in
 * one: by name (`ip netns exec`) or, for containers, by PID (nsenter). Changes inside a namespace
 * go through Kernel.apply (net/kernel.ts), one process per tool.
 */
import { existsSync } from "node:fs";
import { run, runChecked } from "./exec.js";
import { inNamedNetns, netnsArgv, readArgv } from "../plan/ops.js";

import type { Netns } from "../model/netns.js";

export type { Netns };

/** argv that runs `argv` inside the namespace. */
export function inNetns(ns: Netns, argv: string[]): string[] {
  if ("host" in ns) return argv;
  if ("name" in ns) return inNamedNetns(ns.name, argv, { exec: true });
  return ["nsenter", "-t", String(ns.pid), "-n", ...argv];
}

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`) || existsSync(`/var/run/netns/${name}`);
}

/** Creates a named namespace with IPv6 off (so its bridges say nothing into the lab's segments). */
export async function netnsAdd(name: string): Promise<void> {
  await runChecked(netnsArgv("add", name));
  await runChecked(inNamedNetns(name, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]));
}

/** Deletes a named namespace (and every link in it); no error when it does not exist. */
export async function netnsDelete(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  await runChecked(netnsArgv("delete", name));
}

export async function netnsList(): Promise<string[]> {
  const r = await run(readArgv({ read: "netns-list" }));
  if (r.exitCode !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}
