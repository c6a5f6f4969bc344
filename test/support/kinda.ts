/** Integration-test helpers: run the real CLI, poll, and check that a lab left nothing behind. */
import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { hostOf } from "../../src/core/addr.js";
import type { TopologySpec } from "../../src/model/spec.js";
import { ROOT } from "./env.js";

export const docker = new Docker();
export const stateDir = mkdtempSync(join(tmpdir(), "kinda-it-state-"));
// the bin users run (the bundle); typecheck and unit tests use the sources
const CLI = join(ROOT, "dist", "bin", "kinda.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function kindaSpawn(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, KINDA_STATE_DIR: stateDir, CI: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs `kinda ARGS` as a user would (a separate process sharing the test's state dir). */
export function kinda(...args: string[]): Promise<CliResult> {
  return kindaWith({}, ...args);
}

/** `kinda ARGS` with these environment variables changed (e.g. PATH). */
export function kindaWith(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  return new Promise((res) => {
    const child = kindaSpawn(args, env);
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

/** Polls `f` until it returns true or `seconds` pass, saying every 15 s that it still waits; returns the seconds it took. */
export async function eventually(what: string, seconds: number, f: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  let said = 0;
  while (Date.now() - t0 < seconds * 1000) {
    if (await f()) return (Date.now() - t0) / 1000;
    const waited = (Date.now() - t0) / 1000;
    if (waited - said >= 15) {
      said = waited;
      console.log(`# ${what}: still waiting after ${waited.toFixed(0)} s (bound ${seconds.toFixed(0)} s)`);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  assert.fail(`${what}: not true within ${seconds.toFixed(0)} s`);
}

/** How long a convergence may take: never an idle-machine number. */
export interface ConvergenceBound {
  /** What the protocol's own timers need at least (hello/dead intervals, connect retry): the same on any machine. */
  protocolSeconds: number;
  /** A time measured in this run on this machine, e.g. the lab's own deploy: a busy machine measures longer. */
  measuredSeconds: number;
  /** Multiples of the measured time given on top of the timers (default 30). */
  factor?: number;
}

export function convergenceSeconds(b: ConvergenceBound): number {
  return b.protocolSeconds + (b.factor ?? 30) * b.measuredSeconds;
}

/** Waits for a routing protocol to converge, with progress, within a bound derived from a measurement of this run. */
export async function converge(what: string, bound: ConvergenceBound, f: () => Promise<boolean>): Promise<number> {
  const seconds = convergenceSeconds(bound);
  console.log(
    `# ${what}: waiting up to ${seconds.toFixed(0)} s (${bound.protocolSeconds} s of protocol timers + ${bound.factor ?? 30} x ${bound.measuredSeconds.toFixed(1)} s measured here)`,
  );
  return eventually(what, seconds, f);
}

/**
 * Deploys the lab at `dir` as `name`, runs `body` with the deploy's measured seconds, and takes
 * the lab down afterwards, also when `up` or `body` fails (the failure is then rethrown). A lab of
 * that name left by an earlier, killed run is removed first, saying so.
 */
export async function withLab(name: string, dir: string, upArgs: string[], body: (deploySeconds: number) => Promise<void>): Promise<void> {
  if ((await containersOf(name)).length || netnsNames().includes(`kinda-${name}`)) {
    console.log(`# removing lab ${name}, left by an earlier run that was killed`);
    await kindaOk("down", name);
  }
  let failure: unknown;
  try {
    const t0 = Date.now();
    await kindaOk("up", dir, "--name", name, ...upArgs);
    await body((Date.now() - t0) / 1000);
  } catch (e) {
    failure = e;
  }
  const d = await kinda("down", name);
  if (failure !== undefined) {
    if (d.code !== 0) console.log(`# kinda down ${name} after the failure failed too: ${d.stderr.trim()}`);
    throw failure;
  }
  assert.equal(d.code, 0, `kinda down ${name} failed:\n${d.stderr}`);
  await assertNothingLeft(name);
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

/** A writable copy of a lab directory (default: one of the project's fixtures), for bad-input cases. */
export function copyLab(dir: string): string {
  const d = mkdtempSync(join(tmpdir(), "kinda-it-lab-"));
  cpSync(dir, d, { recursive: true });
  execFileSync("chmod", ["-R", "u+w", d]);
  return d;
}

/** Packets a device has sent on one interface (read inside the device). */
export function txPackets(lab: string, device: string, ifname: string): Promise<number> {
  return kindaOk("exec", "--lab", lab, device, "--", "cat", `/sys/class/net/${ifname}/statistics/tx_packets`).then(Number);
}

/** Packets a device sent on all its interfaces (what it forwarded, plus its own few). */
export async function txTotal(lab: string, device: string): Promise<number> {
  const out = await kindaOk("exec", "--lab", lab, device, "--", "sh", "-c", "cat /sys/class/net/eth*/statistics/tx_packets");
  return out
    .split("\n")
    .filter(Boolean)
    .reduce((a, b) => a + Number(b), 0);
}

/** The address of `device` on its link to `peer` (first such link) in a topology. */
export function addressOn(spec: TopologySpec, device: string, peer: string): string {
  const l = spec.links.find((x) => x.endpoints.includes(device) && x.endpoints.includes(peer))!;
  return hostOf(l.addresses![l.endpoints[0] === device ? 0 : 1]);
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
