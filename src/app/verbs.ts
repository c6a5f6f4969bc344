/**
 * Kathara's run-time verbs that kinda users asked for: restart a lab or one device (Kathara's
 * `lrestart`), list every lab on the machine (kinda's and Kathara's), wipe every kinda object
 * (Kathara's `wipe`, Mininet's `mn -c`).
 */
import { rmSync } from "node:fs";
import { KindaError, PreflightError, type Issue } from "../core/errors.js";
import { down, status, up } from "./api.js";
import { createEnv, kubeApiFor } from "./root.js";
import { planLabSource } from "./device.js";
import { limiter } from "../engine/pool.js";
import { deviceStateOf, runShutdownSteps, startDevice, teardown } from "../engine/lab.js";
import { runStartupSteps, startupTimeoutMs } from "../engine/startup.js";
import type { DeployResult } from "../engine/lab.js";
import type { Reporter } from "../core/reporter.js";
import { collectDeviceFiles, writeStage } from "../engine/stage.js";
import { inNetns, netnsList } from "../net/ip.js";
import { readArgv } from "../plan/ops.js";
import type { Kernel } from "../model/kernel.js";
import { LABEL_DEVICE, LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE, isValidLabName } from "../core/names.js";
import type { Runtime } from "../model/container.js";
import type { DeviceState, LabState, StateStore } from "../state/store.js";
import type { DevicePlan } from "../plan/lab.js";
import { ensureSlot } from "../plan/live.js";
import { fitDeviceToLab } from "../plan/lab.js";
import { findKatharaLabs } from "../runtime/kathara.js";
import type { KubeTarget } from "../model/kube.js";
import type { KubeLabOptions } from "../plan/kube.js";

export interface VerbOptions {
  runtime?: Runtime;
  store?: StateStore;
  kernel?: Kernel;
  reporter?: Reporter;
}

function mustRead(store: StateStore, name: string): LabState {
  const st = store.read(name);
  if (!st) throw new KindaError(`no lab named ${name} is up`, { hint: "kinda list shows the labs on this machine" });
  if (!st.source) throw new KindaError(`lab ${name} was built through the API, not from a file: there is nothing to restart it from`);
  return st;
}

/** The runtime a lab was deployed on, as up's options (none: Docker). */
function runtimeOf(st: LabState): { runtimeKind?: "kubernetes"; kube?: KubeTarget & KubeLabOptions } {
  const r = st.runtime;
  if (r?.kind !== "kubernetes") return {};
  const { kind: _kind, ...kube } = r;
  return { runtimeKind: "kubernetes", kube };
}

/** `kinda restart LAB`: down, then up from the same source with the same name and image map. */
export async function restartLab(name: string, opts: VerbOptions = {}): Promise<DeployResult> {
  const { store } = createEnv(opts);
  const st = mustRead(store, name);
  // a Kathara lab's source has no nodes: its cluster was attached (kinda attach), not made by up
  if (st.cluster && st.kind === "kathara")
    throw new KindaError(`lab ${name} has cluster ${st.cluster.name} attached, which restarting would remove and not bring back`, {
      hint: "remove the cluster first, or restart single devices (kinda restart LAB DEVICE)",
    });
  const common = { store, ...(opts.runtime ? { runtime: opts.runtime } : {}), ...(opts.reporter ? { reporter: opts.reporter } : {}) };
  await down(name, common);
  // the same options up was given (--node-image, --encapsulation, --var; the runtime, its host cluster and placement), as recorded
  const lab = await up(st.source!, { ...common, ...st.upOptions, ...runtimeOf(st), name, imageMap: st.imageMap ?? {} });
  return lab.network;
}

/**
 * The source's device as the running lab has it: its lab-side veth ends keep the device's slot
 * (its place in the source may differ from its slot: devices removed and added at run time) and
 * join the lab's bridges by domain name. A domain the lab lacks is refused before anything goes.
 */
function fitRestarted(st: LabState, ds: DeviceState, planned: DevicePlan): DevicePlan {
  const { dev, newDomains } = fitDeviceToLab(st, planned, ensureSlot(st, ds));
  if (newDomains.length)
    throw new KindaError(
      `${st.source} now links ${ds.name} to collision domain ${newDomains.map((d) => d.name).join(", ")}, which lab ${st.name} does not have`,
      { hint: `restart the whole lab (kinda restart ${st.name}), or remove the device and add it again` },
    );
  return dev;
}

/** The MACs of a running device's interfaces (ifname -> address), read in its namespace; empty when it is not running. */
async function interfaceMacs(kernel: Pick<Kernel, "run">, pid: number | undefined): Promise<Map<string, string>> {
  if (!pid) return new Map();
  const r = await kernel.run(inNetns({ pid }, readArgv({ read: "links" })));
  if (r.exitCode !== 0) return new Map();
  const links = JSON.parse(r.stdout || "[]") as { ifname: string; address?: string }[];
  return new Map(links.flatMap((l) => (l.address && l.ifname !== "lo" ? [[l.ifname, l.address] as const] : [])));
}

/**
 * `kinda restart LAB DEVICE`: the device's shutdown scripts, its container removed, then made
 * again from the lab's source (files staged anew, links into the same collision domains, start-up
 * run). Refused when a cluster node is linked to it (that link would be lost).
 */
export async function restartDevice(name: string, device: string, opts: VerbOptions = {}): Promise<LabState> {
  const { store, runtime, kernel, reporter: rep } = createEnv(opts);
  const st = mustRead(store, name);
  const ds = st.devices.find((d) => d.name === device);
  if (!ds) throw new KindaError(`lab ${name} has no device ${device}`, { hint: `kinda status ${name} lists its devices` });
  if (st.cluster?.links?.some((l) => l.device === device))
    throw new KindaError(`a node of cluster ${st.cluster.name} is linked to ${device}; restarting it would cut that link`);
  const { plan, kathara } = await planLabSource(st, store);
  if (!kathara) throw new KindaError(`restarting one device is for Kathara lab directories; restart the whole lab`);
  const planned = plan.devices.find((d) => d.name === device);
  if (!planned) throw new KindaError(`${st.source} no longer defines device ${device}`);
  const rec = st.runtime;
  if (rec?.kind === "kubernetes") {
    const api = await kubeApiFor({
      ...(rec.kubeconfig ? { kubeconfig: rec.kubeconfig } : {}),
      ...(rec.context ? { context: rec.context } : {}),
    });
    const { kubeRestartDevice, readKubeLab } = await import("../engine/kube-change.js");
    readKubeLab(name, store);
    return kubeRestartDevice(st, plan, planned, { api, store, reporter: rep });
  }
  const dev = fitRestarted(st, ds, planned);
  const issues: Issue[] = [];
  const files = collectDeviceFiles(dev, issues);
  if (issues.length) throw new PreflightError(issues);

  const step = rep.step(`restarting ${device} of lab ${name}`);
  const old = await runtime.list({ [LABEL_MANAGED]: MANAGED_VALUE, [LABEL_LAB]: name, [LABEL_DEVICE]: device });
  // the device comes back with the MACs it had: its neighbours' ARP/ND entries for its addresses
  // stay right (with new MACs a router kept sending to the old one until its entry timed out,
  // up to 45 s of lost traffic, seen in the soak)
  const running = old.find((c) => c.running);
  const macs = await interfaceMacs(kernel, running ? (await runtime.inspect(running.id))?.pid : undefined);
  dev.interfaces = dev.interfaces.map((i) => (i.mac || !macs.get(i.name) ? i : { ...i, mac: macs.get(i.name)! }));
  for (const c of old) {
    if (c.running) await runShutdownSteps(runtime, c.id, ds);
    await runtime.remove(c.id);
  }
  // the old container's lab-side veth ends go with its namespace, which the kernel frees
  // asynchronously: deleted here, or linking the new container found them ("File exists",
  // 2 restarts in 201 soak cycles)
  await kernel.apply(
    { name: st.netns },
    dev.interfaces.map((i) => ({ op: "link-delete", name: i.hostIf })),
    { force: true },
  );
  rmSync(dev.stageDir, { recursive: true, force: true });
  writeStage(dev.stageDir, files);
  const { id, netConfig } = await startDevice(plan, dev, runtime, limiter(), undefined, { kernel });
  const res = await runStartupSteps(runtime, id, dev, {
    logPath: store.logPath(name, device),
    defaultTimeoutMs: startupTimeoutMs(),
    ...(netConfig ? { before: netConfig } : {}),
  });
  ds.containerId = id;
  ds.startup = res;
  ds.interfaces = deviceStateOf(dev).interfaces;
  ds.slot = dev.slot;
  store.write(st);
  if (res.status === "failed") step.fail(`${device} restarted; its start-up failed at ${res.failedStep} (exit ${res.exitCode})`);
  else step.done(`${device} restarted`);
  return st;
}

export interface LabListing {
  name: string;
  /** Who made it: kinda, or Kathara (found by its labels). */
  manager: "kinda" | "kathara";
  phase: string;
  devices: number;
  running: number;
  source?: string;
  /** Kathara: the lab hash and the user who started it. */
  hash?: string;
  user?: string;
  cluster?: string;
}

/** `kinda list`: every lab on the machine, kinda's and Kathara's (all users). */
export async function listLabs(opts: VerbOptions = {}): Promise<LabListing[]> {
  const { runtime } = createEnv(opts);
  const mine = (await status(undefined, { runtime, ...(opts.store ? { store: opts.store } : {}) })).map((l): LabListing => ({
    name: l.name,
    manager: "kinda",
    phase: l.phase,
    devices: l.devices.length,
    running: l.devices.filter((d) => d.running).length,
    ...(l.source ? { source: l.source } : {}),
    ...(l.cluster ? { cluster: l.cluster.name } : {}),
  }));
  const kathara = (await findKatharaLabs(runtime)).map((k): LabListing => ({
    name: k.hash,
    manager: "kathara",
    phase: "up",
    devices: k.devices.length,
    running: k.devices.filter((d) => d.running).length,
    hash: k.hash,
    user: k.user,
  }));
  return [...mine, ...kathara];
}

export interface WipePlan {
  labs: string[];
  /** Containers labelled as kinda's whose lab is not among `labs` (removed too). */
  strayContainers: string[];
}

/** Everything `wipe` would remove: every lab kinda knows of, by state, label and namespace name. */
export async function wipePlan(opts: VerbOptions & { only?: (lab: string) => boolean } = {}): Promise<WipePlan> {
  const { store, runtime } = createEnv(opts);
  const keep = opts.only ?? (() => true);
  const containers = await runtime.list({ [LABEL_MANAGED]: MANAGED_VALUE });
  const fromNetns = (await netnsList()).filter((n) => n.startsWith("kinda-")).map((n) => n.slice("kinda-".length));
  const names = new Set([...store.list(), ...containers.map((c) => c.labels[LABEL_LAB] ?? ""), ...fromNetns]);
  const labs = [...names].filter((n) => isValidLabName(n) && keep(n)).sort();
  const strayContainers = containers.filter((c) => !c.labels[LABEL_LAB] && keep("")).map((c) => c.name);
  return { labs, strayContainers };
}

/**
 * `kinda wipe`: tears every lab down (clusters kinda made included; a cluster that cannot be
 * removed is forgotten, as `down --force`), then removes stray kinda containers. Touches only
 * objects with kinda's labels and name prefixes.
 */
export async function wipe(plan: WipePlan, opts: VerbOptions = {}): Promise<{ labs: string[]; failed: string[] }> {
  const { store, runtime, kernel, providers } = createEnv(opts);
  const failed: string[] = [];
  for (const lab of plan.labs) {
    try {
      // a lab on the Kubernetes runtime: its namespace on the host cluster its state names
      if (store.read(lab)?.runtime?.kind === "kubernetes") {
        await down(lab, { store, ...(opts.reporter ? { reporter: opts.reporter } : {}) });
        continue;
      }
      await teardown(lab, {
        runtime,
        store,
        kernel,
        forgetCluster: true,
        providers,
        ...(opts.reporter ? { reporter: opts.reporter } : {}),
      });
    } catch (e) {
      failed.push(`${lab}: ${(e as Error).message}`);
    }
  }
  const all = await runtime.list({ [LABEL_MANAGED]: MANAGED_VALUE });
  for (const c of all.filter((x) => plan.strayContainers.includes(x.name))) await runtime.remove(c.id);
  return { labs: plan.labs, failed };
}
