/**
 * Per-lab state on disk, so `down`, `status` and `exec` work from any process, also after a crash.
 * Layout: <root>/labs/<lab>/state.json, .../logs/<device>.startup.log, .../shared/.
 * Every write is atomic and durable (temp file, fsync, rename or link, fsync of the folder).
 * The root is $KINDA_STATE_DIR or /var/lib/kinda, private to its owner (0700): staged device
 * files, logs and the default shared/ folder are reachable by no other local user.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { KindaError } from "../core/errors.js";
import { isValidLabName } from "../core/names.js";
import { nthAddress } from "../core/addr.js";
import type { RoutingRecord } from "../model/routing.js";
import type { DeviceUndo, LegacyDeviceUndo } from "../model/ops.js";
import type { DeviceRole, ServiceStep } from "../model/lab.js";

export type LabPhase = "deploying" | "up" | "failed" | "tearing-down";

export interface StartupResult {
  status: "ok" | "failed" | "not-run";
  /** The step that failed first (e.g. "r1.startup", "exec[0]"). */
  failedStep?: string;
  exitCode?: number;
  /** Set when the start-up was stopped after this many seconds (its timeout). */
  timedOut?: number;
  log?: string;
}

export interface DeviceState {
  name: string;
  container: string;
  containerId?: string;
  image: string;
  interfaces: { name: string; domain: string; hostIf: string; mac?: string }[];
  /**
   * Its number in its lab-side veth names (`v-<slot>-<i>`, core/names.ts hostVeth): given once
   * when it joins the lab, kept when others are removed. States written before slots were recorded
   * lack it: plan/live.ts slotOf reads it back from the device's veth names.
   */
  slot?: number;
  shell: string;
  startup?: StartupResult;
  /** Shutdown steps to run at teardown: [label, path in the device]. */
  shutdown?: { label: string; path: string }[];
  /** A programmable device (P4 switch, Open vSwitch): what it is, its log, its published ports. */
  role?: DeviceRole;
  /** Its services that run once the cluster's links into it exist (a P4 switch with ports on node links). */
  clusterServices?: ServiceStep[];
  /** On the Kubernetes runtime: its pod, the host node that runs it, the pod's IP (the VXLAN end). */
  pod?: { name: string; node?: string; ip?: string };
}

/** Where a lab on the Kubernetes runtime lives (absent: the Docker runtime). */
export interface KubeRuntimeState {
  kind: "kubernetes";
  kubeconfig?: string;
  context?: string;
  namespace: string;
  /** The placement `up` was given (device -> host node) and the node selector: `restart` gives them again. */
  placement?: Record<string, string>;
  nodeSelector?: Record<string, string>;
}

export interface ClusterNodeState {
  name: string;
  role: "control-plane" | "worker";
  k8sName: string;
  container: string;
  /**
   * Its tunnel index (VXLAN MAC and tunnel address, GRE devices): allocated when it was made,
   * never another node's while it exists. States written before it: the node's place in `nodes`.
   */
  index?: number;
}

/** A Kubernetes cluster attached to the lab. */
export interface ClusterState {
  provider: string;
  name: string;
  providerOptions: Record<string, string>;
  phase: "creating" | "up";
  encapsulation: string;
  nodes: ClusterNodeState[];
  /** The provider's API load balancer (Kind's, with several control planes); links name it LOAD_BALANCER. */
  loadBalancer?: { container: string };
  /** Where each node is linked: a device, or a collision domain of the lab. */
  links?: {
    node: string;
    device?: string;
    domain?: string;
    nodeAddress: string;
    /** The device end's address, when the link gave one (a node added with --device-address). */
    deviceAddress?: string;
    /** The node's interface, the device's end (linked to a device), the lab-side end (into a domain). */
    nodeIf?: string;
    deviceIf?: string;
    labIf?: string;
  }[];
  hostLinks: string[];
  /** The internet uplink /30 allocated to this cluster (StateStore.claimUplink), if it has one. */
  uplinkCidr?: string;
  /**
   * What to undo inside devices when the cluster goes but the lab stays: the inverse operations
   * as data (states written before them hold ip lines and a "rules" flag, still replayed).
   */
  deviceUndo?: (DeviceUndo | LegacyDeviceUndo)[];
  /** Smart NICs on nodes' links: containers in the nodes' namespaces (removed before the nodes). */
  nics?: NicState[];
}

export interface NicState {
  node: string;
  /** How exec/logs/status name it (NODE-nic). */
  name: string;
  container: string;
  kind: "ovs" | "p4";
  image: string;
  logFile: string;
  /** Its Open vSwitch bridge. */
  bridge?: string;
}

export interface RecordedUpOptions {
  nodeImage?: string;
  encapsulation?: "vxlan" | "gre" | "none";
  vars?: Record<string, string>;
  clusterName?: string;
}

export interface LabState {
  version: 1;
  name: string;
  source?: string;
  /**
   * How the source was written, as `up` loaded it: a Kathara lab directory, a YAML topology, a
   * TypeScript/JavaScript module, or a spec handed to the API (no file). States written before
   * "module" existed say "api" for modules too (they have a source).
   */
  kind: "kathara" | "yaml" | "module" | "api";
  /** The options `up` was given that change what it builds from the source, for `restart` and `device add`. */
  upOptions?: RecordedUpOptions;
  netns: string;
  phase: LabPhase;
  createdAt: string;
  updatedAt: string;
  devices: DeviceState[];
  /** Collision domains; on the Kubernetes runtime each is one VXLAN VNI (recorded since link add; older states: its place + 1). */
  domains: { name: string; bridge: string; vni?: number }[];
  /** Device slots handed out so far: the next device to join gets this one (absent in older states: plan/live.ts nextSlot). */
  nextSlot?: number;
  warnings: string[];
  /**
   * A lab another tool started (Kathara), recorded so a cluster can attach to it: its devices and
   * domains are that tool's; `down` removes only what kinda added (the cluster and its links).
   */
  external?: { manager: "kathara"; hash: string; user: string; source?: string };
  /** lab.ext interfaces moved into the lab namespace, to give back (or delete, VLANs) at teardown. */
  externalLinks?: { name: string; vlan?: number }[];
  /** Image substitutions (--image-map) it was deployed with, for `restart`. */
  imageMap?: Record<string, string>;
  cluster?: ClusterState;
  /** Random token of the process that claimed the name (a later write checks it is still its lab). */
  claimId?: string;
  /** What run-time experiments changed (kinda link): shown by status, undone by `kinda link ... --clear` / `up`. */
  live?: LiveState;
  /** Static routing's graph and the routes installed now (topologies with routing: static). */
  routing?: RoutingRecord;
  /** The runtime the lab runs on, when it is not the Docker engine (recorded first, so `down` finds it after a crash). */
  runtime?: KubeRuntimeState;
}

/** Run-time changes to links, keyed by the interface they act on (see plan/live.ts ifKey). */
export interface LiveState {
  /** Interfaces cut (carrier dropped or filtered), with the endpoint the user named. */
  cuts: { key: string; endpoint: string; how: "carrier" | "filter" }[];
  /** Interfaces shaped, with the shaping and the direction it carries. */
  shaping: { key: string; endpoint: string; direction: string; shaping: Record<string, string> }[];
  /** Links added while the lab was up (kinda link LAB A--B add): their collision domains. */
  added?: { domain: string; endpoints: [string, string] }[];
  /** Devices added while the lab was up (kinda device LAB NAME add). */
  addedDevices?: string[];
}

export function stateRoot(): string {
  return process.env["KINDA_STATE_DIR"] || "/var/lib/kinda";
}

/** Mode of every folder kinda makes under its root: the owner (root) only. */
export const PRIVATE_DIR = 0o700;

/** Writes `data` to `path` atomically: a synced temp file renamed (or linked, `exclusive`) over it. */
export function atomicWrite(path: string, data: string | Buffer, opts: { exclusive?: boolean; mode?: number } = {}): void {
  const tmp = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", opts.mode ?? 0o600);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (e) {
    // a full disk: the half-written temporary file is not left behind
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    // link() fails with EEXIST when the name is taken: an exclusive create of a complete file
    if (opts.exclusive) linkSync(tmp, path);
    else renameSync(tmp, path);
  } finally {
    if (opts.exclusive || existsSync(tmp)) rmSync(tmp, { force: true });
  }
  syncDir(dirname(path));
}

/** Is this error a full disk or an exhausted quota? */
export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** mkdir -p with mode 0700 for every folder it makes. */
function mkdirPrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
}

export class StateStore {
  constructor(readonly root: string = stateRoot()) {}

  /**
   * Makes the root (0700 when kinda creates it) and tightens an existing root that others can
   * reach: everything below it is root's alone (staged files may be private, a device may write
   * a setuid file to shared/).
   */
  ensureRoot(): void {
    mkdirPrivate(join(this.root, "labs"));
    for (const d of [this.root, join(this.root, "labs")]) if ((statSync(d).mode & 0o077) !== 0) chmodSync(d, PRIVATE_DIR);
  }

  /** Every path of the store goes through here: a name that is not a lab name never reaches the disk. */
  labDir(name: string): string {
    if (!isValidLabName(name)) {
      throw new KindaError(`${JSON.stringify(name)} is not a lab name`, {
        hint: "lab names are 1-40 of a-z, 0-9, _, . and -, starting with a letter or digit",
      });
    }
    return join(this.root, "labs", name);
  }

  /** Per-device staged files (<lab>/devices/<device>), mounted read-only into each device. */
  stageRoot(name: string): string {
    return join(this.labDir(name), "devices");
  }

  sharedDir(name: string): string {
    return join(this.labDir(name), "shared");
  }

  logPath(name: string, device: string): string {
    return join(this.labDir(name), "logs", `${device}.startup.log`);
  }

  /** The path of a lab's state file. */
  statePath(name: string): string {
    return join(this.labDir(name), "state.json");
  }

  /**
   * A lab's state, or undefined when it has none. A state file that is there but cannot be read
   * as a lab's state (truncated, edited by hand, a full disk's empty file) is refused with a
   * CorruptStateError naming its path: it is never taken for an absent lab, whose name `up` could
   * then take over while the old lab's containers and links are still on the machine.
   */
  read(name: string): LabState | undefined {
    const p = this.statePath(name);
    let text: string;
    try {
      text = readFileSync(p, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new CorruptStateError(name, p, (e as Error).message);
    }
    let st: unknown;
    try {
      st = JSON.parse(text);
    } catch (e) {
      throw new CorruptStateError(name, p, text.length === 0 ? "the file is empty" : `not JSON: ${(e as Error).message}`);
    }
    const problem = stateProblem(st, name);
    if (problem) throw new CorruptStateError(name, p, problem);
    return st as LabState;
  }

  /** {@link read} for look-ups over every lab (status, exec, a path's lab): an unreadable state is skipped, not fatal to the others. */
  readIfValid(name: string): LabState | undefined {
    try {
      return this.read(name);
    } catch (e) {
      if (e instanceof CorruptStateError) return undefined;
      throw e;
    }
  }

  /** Writes a lab's state (creating it when there is none). */
  write(state: LabState): void {
    atomicWrite(this.prepare(state), JSON.stringify(state, null, 2) + "\n");
  }

  /** Makes the lab's folders, stamps the state; the path of its state file. */
  private prepare(state: LabState): string {
    this.ensureRoot();
    const dir = this.labDir(state.name);
    mkdirPrivate(join(dir, "logs"));
    state.updatedAt = new Date().toISOString();
    return join(dir, "state.json");
  }

  /**
   * Writes the state of a lab this process claimed, only while it is still that claim: after a
   * `kinda down` from elsewhere (state marked tearing-down, or gone) or a new lab of the name, it
   * throws instead of bringing a removed lab back to life.
   */
  update(state: LabState): void {
    if (this.claimLost(state) !== undefined) throw removedElsewhere(state.name);
    this.write(state);
  }

  /**
   * Has this process's claim on the lab gone (`kinda down` from elsewhere: the state marked
   * tearing-down, or removed)? "taken" when another process claimed the name since: what is on
   * the machine under that name is no longer this process's to remove.
   */
  claimLost(state: LabState): "down" | "taken" | undefined {
    const cur = this.read(state.name);
    if (cur && cur.claimId !== state.claimId) return "taken";
    if (!cur || (cur.phase === "tearing-down" && state.phase !== "tearing-down")) return "down";
    return undefined;
  }

  /**
   * Writes a new lab's first state, exclusively: of two processes deploying the same name at
   * once, one gets the name and the other an error, before it created anything.
   */
  claim(state: LabState): void {
    const file = this.prepare(state);
    state.claimId ??= randomBytes(8).toString("hex");
    try {
      atomicWrite(file, JSON.stringify(state, null, 2) + "\n", { exclusive: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      throw new KindaError(`a lab named ${state.name} already exists on this machine (another process is deploying it)`, {
        hint: `tear it down first (kinda down ${state.name}) or pick another name (--name)`,
      });
    }
  }

  /** Creates a lab's folder for staged files, shared/ or logs (0700 folders). */
  makeDir(path: string): void {
    this.ensureRoot();
    mkdirPrivate(path);
  }

  /** Writes a device's start-up log, readable by root only. */
  writeLog(name: string, device: string, text: string): string {
    const p = this.logPath(name, device);
    this.makeDir(dirname(p));
    atomicWrite(p, text);
    return p;
  }

  list(): string[] {
    const d = join(this.root, "labs");
    if (!existsSync(d)) return [];
    return readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isDirectory() && isValidLabName(e.name))
      .map((e) => e.name)
      .sort();
  }

  /**
   * Writes a lab's state as tearing-down, so that a deploy still running elsewhere does not call
   * it up. On a full disk (ENOSPC, EDQUOT) the lab's staged device files, read only by its
   * devices, which are going, are removed to make room and the write is tried once more; if it
   * still fails, the teardown goes on without the mark (it removes the state at its end): `down`
   * must work on a full disk. Returns a warning when the mark could not be written.
   */
  markTearingDown(state: LabState): string | undefined {
    state.phase = "tearing-down";
    try {
      this.write(state);
      return undefined;
    } catch (e) {
      if (!isDiskFull(e)) throw e;
    }
    rmSync(this.stageRoot(state.name), { recursive: true, force: true });
    try {
      this.write(state);
      return `the disk under ${this.root} is full: removed lab ${state.name}'s staged device files to make room`;
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      return `the disk under ${this.root} is full (${(e as Error).message}): lab ${state.name}'s state is not marked tearing-down; removing it anyway`;
    }
  }

  remove(name: string): void {
    rmSync(this.labDir(name), { recursive: true, force: true });
    this.releaseUplink(name);
  }

  /**
   * The internet uplink /30 of a lab, allocated collision-free inside UPLINK_RANGE: slot N is the
   * file <root>/uplinks/N, created exclusively and naming its lab (a slot whose lab is gone is
   * taken back). The same lab gets the same slot again.
   */
  claimUplink(name: string): string {
    this.ensureRoot();
    const dir = join(this.root, "uplinks");
    mkdirPrivate(dir);
    const slots = UPLINK_SLOTS;
    const held = new Map<number, string>();
    for (const f of readdirSync(dir)) if (/^\d+$/.test(f)) held.set(Number(f), readFileSync(join(dir, f), "utf8").trim());
    for (const [n, lab] of held) if (lab === name) return uplinkOf(n);
    for (let n = 0; n < slots; n++) {
      const holder = held.get(n);
      if (holder !== undefined) {
        if (isValidLabName(holder) && existsSync(this.labDir(holder))) continue;
        rmSync(join(dir, String(n)), { force: true }); // its lab is gone
      }
      try {
        atomicWrite(join(dir, String(n)), `${name}\n`, { exclusive: true });
        return uplinkOf(n);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e; // taken meanwhile: the next one
      }
    }
    throw new KindaError(`no free internet uplink range: all ${slots} /30s of ${UPLINK_RANGE} are taken`, {
      hint: "remove labs that are no longer needed, or give uplinkCidr yourself",
    });
  }

  /** Frees the uplink slot(s) of a lab. */
  releaseUplink(name: string): void {
    const dir = join(this.root, "uplinks");
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      try {
        if (readFileSync(p, "utf8").trim() === name) rmSync(p, { force: true });
      } catch {
        // removed meanwhile
      }
    }
  }
}

/** Where kinda allocates internet uplinks: /30s of a range reserved for carrier-grade NAT. */
export const UPLINK_RANGE = "100.127.0.0/16";
const UPLINK_SLOTS = 16384;

function uplinkOf(n: number): string {
  return `${nthAddress(UPLINK_RANGE, n * 4)}/30`;
}

/** A lab's state file that is there but is not a lab's state: its path, what is wrong, the way out. */
export class CorruptStateError extends KindaError {
  override name = "CorruptStateError";
  constructor(
    readonly lab: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`the state of lab ${lab} (${path}) cannot be read: ${problem}`, {
      hint:
        `restore the file if you have a copy; or run kinda down --force ${lab}: it removes the lab by kinda's labels and names ` +
        `(containers labelled kinda.lab=${lab}, the namespace kinda-${lab}, the lab's host links and iptables rules) and this file; ` +
        `a cluster the lab had is then not known to kinda (kind get clusters; kind delete cluster --name NAME)`,
    });
  }
}

/** What makes a parsed state file not a lab's state (undefined: it is one, as far as kinda reads it). */
function stateProblem(st: unknown, name: string): string | undefined {
  if (typeof st !== "object" || st === null || Array.isArray(st)) return "not a JSON object";
  const o = st as Record<string, unknown>;
  if (o["version"] !== 1) return `version is ${JSON.stringify(o["version"])}, not 1`;
  if (o["name"] !== name) return `name is ${JSON.stringify(o["name"])}, not ${JSON.stringify(name)}`;
  if (typeof o["netns"] !== "string") return "netns is missing";
  for (const k of ["devices", "domains"]) if (!Array.isArray(o[k])) return `${k} is not a list`;
  if (
    o["cluster"] !== undefined &&
    (typeof o["cluster"] !== "object" || !Array.isArray((o["cluster"] as Record<string, unknown>)?.["nodes"]))
  )
    return "cluster has no list of nodes";
  return undefined;
}

/** The error of a process whose lab was taken down from elsewhere while it worked on it. */
export function removedElsewhere(name: string, cause?: unknown): KindaError {
  // the step that failed meanwhile is said too: it may have failed for a reason of its own
  const step = cause instanceof Error ? `; the step it was in failed: ${cause.message.split("\n")[0]}` : "";
  return new KindaError(`lab ${name} was removed while this process was working on it (kinda down from elsewhere?)${step}`, {
    hint: `deploy it again if it is still wanted (kinda up ...)`,
    ...(cause !== undefined ? { cause } : {}),
  });
}
