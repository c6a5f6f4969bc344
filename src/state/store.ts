/**
 * Per-lab state on disk, so `down`, `status` and `exec` work from any process, also after a crash.
 * Layout: <root>/labs/<lab>/state.json, .../logs/<device>.startup.log, .../shared/.
 * Writes are atomic (temp file + rename). The root is $KINDA_STATE_DIR or /var/lib/kinda.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { KindaError } from "../core/errors.js";
import { isValidLabName } from "../core/names.js";
import type { DeviceUndo, LegacyDeviceUndo } from "../model/ops.js";
import type { DeviceRole, ServiceStep } from "../model/lab.js";

export type LabPhase = "deploying" | "up" | "failed" | "tearing-down";

export interface StartupResult {
  status: "ok" | "failed" | "not-run";
  /** The step that failed first (e.g. "r1.startup", "exec[0]"). */
  failedStep?: string;
  exitCode?: number;
  log?: string;
}

export interface DeviceState {
  name: string;
  container: string;
  containerId?: string;
  image: string;
  interfaces: { name: string; domain: string; hostIf: string; mac?: string }[];
  shell: string;
  startup?: StartupResult;
  /** Shutdown steps to run at teardown: [label, path in the device]. */
  shutdown?: { label: string; path: string }[];
  /** A programmable device (P4 switch, Open vSwitch): what it is, its log, its published ports. */
  role?: DeviceRole;
  /** Its services that run once the cluster's links into it exist (a P4 switch with ports on node links). */
  clusterServices?: ServiceStep[];
}

export interface ClusterNodeState {
  name: string;
  role: "control-plane" | "worker";
  k8sName: string;
  container: string;
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
  links?: { node: string; device?: string; domain?: string; nodeAddress: string }[];
  hostLinks: string[];
  /**
   * What to undo inside devices when the cluster goes but the lab stays: the inverse operations
   * as data (states written before them hold ip lines and a "rules" flag, still replayed).
   */
  deviceUndo?: (DeviceUndo | LegacyDeviceUndo)[];
}

export interface LabState {
  version: 1;
  name: string;
  source?: string;
  kind: "kathara" | "yaml" | "api";
  netns: string;
  phase: LabPhase;
  createdAt: string;
  updatedAt: string;
  devices: DeviceState[];
  domains: { name: string; bridge: string }[];
  warnings: string[];
  cluster?: ClusterState;
}

export function stateRoot(): string {
  return process.env["KINDA_STATE_DIR"] || "/var/lib/kinda";
}

export class StateStore {
  constructor(readonly root: string = stateRoot()) {}

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

  read(name: string): LabState | undefined {
    const p = join(this.labDir(name), "state.json");
    if (!existsSync(p)) return undefined;
    try {
      return JSON.parse(readFileSync(p, "utf8")) as LabState;
    } catch {
      return undefined; // a torn write is impossible (rename), but a hand-edited file may be bad
    }
  }

  write(state: LabState): void {
    const dir = this.labDir(state.name);
    mkdirSync(join(dir, "logs"), { recursive: true });
    state.updatedAt = new Date().toISOString();
    const tmp = join(dir, `.state.json.${process.pid}`);
    writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
    renameSync(tmp, join(dir, "state.json"));
  }

  /**
   * Writes a new lab's first state, exclusively: of two processes deploying the same name at
   * once, one gets the name and the other an error, before it created anything.
   */
  claim(state: LabState): void {
    const dir = this.labDir(state.name);
    mkdirSync(join(dir, "logs"), { recursive: true });
    state.updatedAt = new Date().toISOString();
    try {
      writeFileSync(join(dir, "state.json"), JSON.stringify(state, null, 2) + "\n", { flag: "wx" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      throw new KindaError(`a lab named ${state.name} already exists on this machine (another process is deploying it)`, {
        hint: `tear it down first (kinda down ${state.name}) or pick another name (--name)`,
      });
    }
  }

  writeLog(name: string, device: string, text: string): string {
    const p = this.logPath(name, device);
    mkdirSync(join(this.labDir(name), "logs"), { recursive: true });
    writeFileSync(p, text);
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

  remove(name: string): void {
    rmSync(this.labDir(name), { recursive: true, force: true });
  }
}
