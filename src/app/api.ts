/** The library's front door for labs: load, plan, deploy, tear down, inspect, exec. */
import { KindaError } from "../core/errors.js";
import { existsSync } from "node:fs";
import { LABEL_DEVICE, LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE } from "../core/names.js";
import { formatPlan, planLab } from "../plan/lab.js";
import { DockerRuntime } from "../runtime/docker.js";
import type { Runtime } from "../model/container.js";
import { StateStore, type LabState } from "../state/store.js";
import { deploy, teardown, type DeployResult } from "../engine/lab.js";
import { loadSource, resolveLabPath } from "../topology/source.js";
import { formatTopologyPlan, planTopology, upTopology } from "./topology.js";
import { labNameFromDir } from "../topology/kathara.js";
import type { ProviderLookup } from "../model/provider.js";
import { createProviderRegistry } from "./root.js";

/** A path's default lab name without loading it (down must work even if the source changed). */
function basenameName(path: string): string {
  return labNameFromDir(path.replace(/\.(ya?ml|m?ts|m?js)$/, ""));
}
import type { Reporter } from "../core/reporter.js";
import { netnsExists } from "../net/ip.js";
import { graphFromLab, graphFromSpec, graphFromState, type Graph } from "./graph.js";

export interface UpOptions {
  name?: string;
  imageMap?: Record<string, string>;
  runtime?: Runtime;
  store?: StateStore;
  reporter?: Reporter;
  signal?: AbortSignal;
  parallelism?: number;
}

/** Loads and plans a lab without touching anything; returns the --dry-run text. */
export async function dryRun(
  path: string,
  opts: { name?: string; imageMap?: Record<string, string>; store?: StateStore } = {},
): Promise<string> {
  const src = await loadSource(path);
  const store = opts.store ?? new StateStore();
  if (src.type === "topology") {
    const spec = opts.name ? { ...src.spec, name: opts.name } : src.spec;
    const t = planTopology(spec, { store, imageMap: opts.imageMap ?? {}, source: src.path, ...(src.where ? { where: src.where } : {}) });
    return formatTopologyPlan(t, formatPlan);
  }
  const name = opts.name ?? src.defaultName;
  return formatPlan(
    planLab(src.lab, {
      name,
      imageMap: opts.imageMap ?? {},
      sharedDir: store.sharedDir(name),
      stageRoot: store.stageRoot(name),
      source: src.path,
    }),
  );
}

export { formatPlan };

export async function up(path: string, opts: UpOptions = {}): Promise<DeployResult> {
  const src = await loadSource(path);
  const store = opts.store ?? new StateStore();
  const common = {
    store,
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  if (src.type === "topology") {
    const spec = opts.name ? { ...src.spec, name: opts.name } : src.spec;
    const h = await upTopology(spec, {
      ...common,
      imageMap: opts.imageMap ?? {},
      source: src.path,
      ...(src.where ? { where: src.where } : {}),
    });
    return h.network;
  }
  const name = opts.name ?? src.defaultName;
  const plan = planLab(src.lab, {
    name,
    imageMap: opts.imageMap ?? {},
    sharedDir: store.sharedDir(name),
    stageRoot: store.stageRoot(name),
    source: src.path,
  });
  return deploy(plan, {
    runtime: opts.runtime ?? new DockerRuntime(),
    kind: "kathara",
    ...common,
    ...(opts.parallelism ? { parallelism: opts.parallelism } : {}),
  });
}

/** The lab a `down`/`status` argument means: a lab name, or the path a lab was deployed from. */
export function resolveLabName(arg: string, store = new StateStore()): string {
  const names = store.list();
  if (names.includes(arg)) return arg;
  if (existsSync(arg)) {
    const path = resolveLabPath(arg);
    const fromPath = names.filter((n) => store.read(n)?.source === path);
    if (fromPath.length === 1) return fromPath[0] as string;
    if (fromPath.length > 1)
      throw new KindaError(`several labs were deployed from ${path}: ${fromPath.join(", ")}`, { hint: "name one of them" });
    return basenameName(path);
  }
  return arg;
}

export async function down(
  nameOrPath: string,
  opts: { runtime?: Runtime; store?: StateStore; reporter?: Reporter; forgetCluster?: boolean; providers?: ProviderLookup } = {},
) {
  const store = opts.store ?? new StateStore();
  const name = resolveLabName(nameOrPath, store);
  return teardown(name, {
    runtime: opts.runtime ?? new DockerRuntime(),
    store,
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
    ...(opts.forgetCluster ? { forgetCluster: true } : {}),
    providers: opts.providers ?? createProviderRegistry(),
  });
}

export interface DeviceStatus {
  name: string;
  container: string;
  image: string;
  running: boolean;
  interfaces: { name: string; domain: string; mac?: string }[];
  startup: string;
  startupLog?: string;
}

export interface LabStatus {
  name: string;
  phase: LabState["phase"] | "orphaned";
  source?: string;
  netns: string;
  netnsPresent: boolean;
  createdAt?: string;
  devices: DeviceStatus[];
  warnings: string[];
  cluster?: LabState["cluster"];
  /** Run-time changes (kinda link): cut links and shaping. */
  live?: LabState["live"];
}

export async function status(name?: string, opts: { runtime?: Runtime; store?: StateStore } = {}): Promise<LabStatus[]> {
  const store = opts.store ?? new StateStore();
  const runtime = opts.runtime ?? new DockerRuntime();
  const all = await runtime.list({ [LABEL_MANAGED]: MANAGED_VALUE });
  const names = name
    ? [resolveLabName(name, store)]
    : [...new Set([...store.list(), ...all.map((c) => c.labels[LABEL_LAB] ?? "")])].filter(Boolean).sort();
  return names.map((n): LabStatus => {
    const st = store.read(n);
    const mine = all.filter((c) => c.labels[LABEL_LAB] === n);
    if (!st && mine.length === 0) throw new KindaError(`no lab named ${n} is up`, { hint: "kinda status lists the labs that are" });
    const devices: DeviceStatus[] = st
      ? st.devices.map((d) => {
          const c = mine.find((x) => x.labels[LABEL_DEVICE] === d.name);
          const s: DeviceStatus = {
            name: d.name,
            container: d.container,
            image: d.image,
            running: c?.running ?? false,
            interfaces: d.interfaces.map((i) => ({ name: i.name, domain: i.domain, ...(i.mac ? { mac: i.mac } : {}) })),
            startup: d.startup
              ? d.startup.status === "failed"
                ? `failed at ${d.startup.failedStep} (exit ${d.startup.exitCode})`
                : d.startup.status
              : "pending",
          };
          if (d.startup?.log) s.startupLog = d.startup.log;
          return s;
        })
      : mine.map((c) => ({
          name: c.labels[LABEL_DEVICE] ?? c.name,
          container: c.name,
          image: c.image,
          running: c.running,
          interfaces: [],
          startup: "unknown",
        }));
    const ls: LabStatus = {
      name: n,
      phase: st ? st.phase : "orphaned",
      netns: st?.netns ?? `kinda-${n}`,
      netnsPresent: netnsExists(st?.netns ?? `kinda-${n}`),
      devices,
      warnings: st?.warnings ?? [],
    };
    if (st?.source) ls.source = st.source;
    if (st?.cluster) ls.cluster = st.cluster;
    if (st?.live && (st.live.cuts.length || st.live.shaping.length)) ls.live = st.live;
    if (st?.createdAt) ls.createdAt = st.createdAt;
    return ls;
  });
}

export { clusterNodes, execIn, findDevice, reverseName, whoIs, type ExecInOptions } from "./exec.js";

/** The graph of a lab that is up (by name), or of a topology source (by path). */
export async function graphFor(arg: string, store = new StateStore()): Promise<Graph> {
  const st = store.read(arg);
  if (st && !existsSync(arg)) return graphFromState(st);
  const src = await loadSource(arg);
  return src.type === "kathara" ? graphFromLab(src.defaultName, src.lab) : graphFromSpec(src.spec);
}
