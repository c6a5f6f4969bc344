/** Integration-test helpers: run the real CLI, poll, and check that a lab left nothing behind. */
import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { ROOT, conformanceDir } from "./env.js";

export const docker = new Docker();
export const stateDir = mkdtempSync(join(tmpdir(), "kinda-it-state-"));
const CLI = join(ROOT, "dist", "src", "cli", "main.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function kindaSpawn(args: string[]): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, KINDA_STATE_DIR: stateDir, CI: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs `kinda ARGS` as a user would (a separate process sharing the test's state dir). */
export function kinda(...args: string[]): Promise<CliResult> {
  return new Promise((res) => {
    const child = kindaSpawn(args);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => res({ code, stdout, stderr }));
  });
}

export async function kindaOk(...args: string[]): Promise<string> {
  const r = await kinda(...args);
  assert.equal(r.code, 0, `kinda ${args.join(" ")} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Polls `f` until it returns true or `seconds` pass; returns the seconds it took. */
export async function eventually(what: string, seconds: number, f: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    if (await f()) return (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
  }
  assert.fail(`${what}: not true within ${seconds} s`);
}

/** Pings each address once from a device; true when all answer (argv only, no shell string). */
export async function reachesAll(lab: string, device: string, addrs: readonly string[]): Promise<boolean> {
  const r = await kinda(
    "exec",
    "--lab",
    lab,
    device,
    "--",
    "sh",
    "-c",
    'for a in "$@"; do ping -c1 -W1 "$a" >/dev/null || exit 1; done',
    "reach",
    ...addrs,
  );
  return r.code === 0;
}

export async function ping(lab: string, device: string, addr: string): Promise<boolean> {
  return (await kinda("exec", "--lab", lab, device, "--", "ping", "-c1", "-W2", addr)).code === 0;
}

/** A writable copy of a conformance lab, for bad-input cases. */
export function copyLab(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `kinda-it-${name}-`));
  cpSync(join(conformanceDir(), name), d, { recursive: true });
  execFileSync("chmod", ["-R", "u+w", d]);
  return d;
}

export function hostLinks(): string[] {
  return execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((l) => (l.split(": ")[1] ?? "").split("@")[0] ?? "")
    .filter((n) => !/^veth/.test(n)) // Docker's own NAT-network veths come and go with other labs
    .sort();
}

export function netnsNames(): string[] {
  const out = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  return out
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ")[0] ?? "");
}

/** Asserts the lab left nothing: no container, namespace, state, host link or iptables rule. */
export async function assertNothingLeft(lab: string, linksBefore?: string[]): Promise<void> {
  const cs = await docker.listContainers({ all: true, filters: { label: [`kinda.lab=${lab}`] } });
  assert.deepEqual(
    cs.map((c) => c.Names[0]),
    [],
    `containers of ${lab} remain`,
  );
  assert.ok(!netnsNames().includes(`kinda-${lab}`), `namespace kinda-${lab} remains`);
  if (linksBefore) assert.deepEqual(hostLinks(), linksBefore, "host links changed");
  const rules = execFileSync("iptables-save", { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(`kinda-${lab}`) || l.includes(`kinda:${lab}`));
  assert.deepEqual(rules, [], "iptables rules remain");
  const st = await kinda("status", lab);
  assert.notEqual(st.code, 0, `kinda status ${lab} still finds the lab`);
}

export async function containersOf(lab: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`kinda.lab=${lab}`] } });
}
