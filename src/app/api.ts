/** The library's front door for labs: load, plan, deploy, tear down, inspect, exec. */
import { KindaError } from "../core/errors.js";
import { existsSync, readFileSync } from "node:fs";
import type { TopologySpec } from "../model/spec.js";
import { LABEL_DEVICE, LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE, isValidLabName } from "../core/names.js";
import { formatPlan, planLab, type Plan } from "../plan/lab.js";
import type { ExecResult, Runtime } from "../model/container.js";
import type { LabState, NicState, StateStore } from "../state/store.js";
import { deploy, teardown, type DeployResult } from "../engine/lab.js";
import { loadSource, resolveLabPath, type LoadedSource } from "../topology/source.js";
import { formatTopologyPlan, planTopology, upTopology } from "./topology.js";
import type { ProviderLookup } from "../model/provider.js";
import { createProviderRegistry, defaultRuntime, defaultStore } from "./root.js";
import type { Reporter } from "../core/reporter.js";
import { netnsExists } from "../net/ip.js";
import { graphFromLab, graphFromSpec, graphFromState, type Graph } from "./graph.js";

/** Overrides of a topology's own settings, from the command line. */
export interface TopologyOverrides {
  name?: string;
  /** Kind node image (the topology's cluster.image). */
  nodeImage?: string;
  /** Pod traffic between nodes (the topology's encapsulation). */
  encapsulation?: TopologySpec["encapsulation"];
}

function overridden(spec: TopologySpec, o: TopologyOverrides): TopologySpec {
  return {
    ...spec,
    ...(o.name ? { name: o.name } : {}),
    ...(o.encapsulation ? { encapsulation: o.encapsulation } : {}),
    ...(o.nodeImage ? { cluster: { ...spec.cluster, image: o.nodeImage } } : {}),
  };
}

/** A Kathara lab has no Kubernetes nodes: node options given for one are a mistake worth saying. */
function noNodeOptions(path: string, o: TopologyOverrides): void {
  const given = [o.nodeImage && "--node-image", o.encapsulation && "--encapsulation"].filter(Boolean);
  if (given.length) throw new KindaError(`${given.join(" and ")}: ${path} is a Kathara lab, which has no Kubernetes nodes`);
}

export interface UpOptions extends TopologyOverrides {
  imageMap?: Record<string, string>;
  runtime?: Runtime;
  store?: StateStore;
  reporter?: Reporter;
  signal?: AbortSignal;
  parallelism?: number;
  /** A YAML topology's vars: overrides (--var). */
  vars?: Record<string, string>;
}

/** Loads and plans a lab without touching anything; returns the --dry-run text. */
export async function dryRun(
  path: string,
  opts: TopologyOverrides & { imageMap?: Record<string, string>; store?: StateStore; vars?: Record<string, string> } = {},
): Promise<string> {
  const src = await loadSource(path, { ...(opts.vars ? { vars: opts.vars } : {}) });
  const store = opts.store ?? defaultStore();
  if (src.type === "topology") {
    const spec = overridden(src.spec, opts);
    const t = planTopology(spec, { store, imageMap: opts.imageMap ?? {}, source: src.path, ...(src.where ? { where: src.where } : {}) });
    return formatTopologyPlan(t, formatPlan);
  }
  noNodeOptions(path, opts);
  return formatPlan(planKathara(src, opts, store));
}

/** The plan of a Kathara lab source, named by --name or its folder. */
function planKathara(
  src: Extract<LoadedSource, { type: "kathara" }>,
  opts: { name?: string; imageMap?: Record<string, string> },
  store: StateStore,
): Plan {
  const name = opts.name ?? src.defaultName;
  return planLab(src.lab, {
    name,
    imageMap: opts.imageMap ?? {},
    sharedDir: store.sharedDir(name),
    stageRoot: store.stageRoot(name),
    source: src.path,
  });
}

export { formatPlan };
export { expandTopologyYaml } from "../topology/yaml.js";

export async function up(path: string, opts: UpOptions = {}): Promise<DeployResult> {
  const src = await loadSource(path, { ...(opts.vars ? { vars: opts.vars } : {}) });
  const store = opts.store ?? defaultStore();
  const common = {
    store,
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  if (src.type === "topology") {
    const spec = overridden(src.spec, opts);
    const h = await upTopology(spec, {
      ...common,
      imageMap: opts.imageMap ?? {},
      source: src.path,
      ...(src.where ? { where: src.where } : {}),
    });
    return h.network;
  }
  noNodeOptions(path, opts);
  return deploy(planKathara(src, opts, store), {
    runtime: opts.runtime ?? defaultRuntime(),
    kind: "kathara",
    imageMap: opts.imageMap ?? {},
    ...common,
    ...(opts.parallelism ? { parallelism: opts.parallelism } : {}),
  });
}

/**
 * The lab a `down`/`status` argument means: the name of a lab on this machine, or else a path,
 * which means only a lab whose recorded source is that path (never one of the same base name
 * deployed from elsewhere).
 */
export function resolveLabName(arg: string, store = defaultStore()): string {
  const names = store.list();
  if (names.includes(arg)) return arg;
  if (!existsSync(arg)) return arg;
  const path = resolveLabPath(arg);
  const fromPath = names.filter((n) => store.read(n)?.source === path);
  if (fromPath.length === 1) return fromPath[0] as string;
  if (fromPath.length > 1)
    throw new KindaError(`several labs were deployed from ${path}: ${fromPath.join(", ")}`, { hint: "name one of them" });
  throw new KindaError(`no lab on this machine was deployed from ${path}`, {
    hint: "kinda status lists the labs and where each came from; name the lab instead (kinda down NAME)",
  });
}

export async function down(
  nameOrPath: string,
  opts: { runtime?: Runtime; store?: StateStore; reporter?: Reporter; forgetCluster?: boolean; providers?: ProviderLookup } = {},
) {
  const store = opts.store ?? defaultStore();
  const runtime = opts.runtime ?? defaultRuntime();
  const name = resolveLabName(nameOrPath, store);
  return teardown(name, {
    runtime,
    store,
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
    ...(opts.forgetCluster ? { forgetCluster: true } : {}),
    providers: opts.providers ?? createProviderRegistry(runtime),
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
  /** Programmable devices: p4-switch or ovs-switch. */
  kind?: string;
  /** Published ports of programmable devices, by name (grpc, thrift), at their host address. */
  published?: { name: string; address: string }[];
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
  /** The nodes' smart NICs, with whether their containers run. */
  nics?: (NicState & { running: boolean; device?: string })[];
  /** Run-time changes (kinda link): cut links and shaping. */
  live?: LabState["live"];
}

export async function status(name?: string, opts: { runtime?: Runtime; store?: StateStore } = {}): Promise<LabStatus[]> {
  const store = opts.store ?? defaultStore();
  const runtime = opts.runtime ?? defaultRuntime();
  const all = await runtime.list({ [LABEL_MANAGED]: MANAGED_VALUE });
  // labs kinda attached to (Kathara's): their containers carry Kathara's labels, not kinda's
  const kathara = await runtime.list({ app: "kathara" });
  const names = name
    ? [resolveLabName(name, store)]
    : // a container of someone else's may carry any kinda.lab label: only lab names count
      [...new Set([...store.list(), ...all.map((c) => c.labels[LABEL_LAB] ?? "")])].filter(isValidLabName).sort();
  return names.map((n): LabStatus => {
    const st = store.read(n);
    const mine = all.filter((c) => c.labels[LABEL_LAB] === n);
    if (!st && mine.length === 0) throw new KindaError(`no lab named ${n} is up`, { hint: "kinda status lists the labs that are" });
    const devices: DeviceStatus[] = st
      ? st.devices.map((d) => {
          const c = st.external ? kathara.find((x) => x.name === d.container) : mine.find((x) => x.labels[LABEL_DEVICE] === d.name);
          const s: DeviceStatus = {
            name: d.name,
            container: d.container,
            image: d.image,
            running: c?.running ?? false,
            interfaces: d.interfaces.map((i) => ({ name: i.name, domain: i.domain, ...(i.mac ? { mac: i.mac } : {}) })),
            startup: d.startup
              ? d.startup.status === "failed"
                ? `failed at ${d.startup.failedStep} (${d.startup.timedOut ? `stopped after ${d.startup.timedOut} s` : `exit ${d.startup.exitCode}`})`
                : d.startup.status
              : "pending",
          };
          if (d.startup?.log) s.startupLog = d.startup.log;
          if (d.role) {
            s.kind = d.role.kind;
            const pub = publishedByName(d.role.portNames ?? {}, c?.published ?? []);
            if (pub.length) s.published = pub;
          }
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
    if (st?.cluster?.nics?.length)
      ls.nics = st.cluster.nics.map((x) => {
        const device = st.cluster?.links?.find((l) => l.node === x.node)?.device;
        return { ...x, running: all.some((c) => c.name === x.container && c.running), ...(device ? { device } : {}) };
      });
    if (st?.live && (st.live.cuts.length || st.live.shaping.length)) ls.live = st.live;
    if (st?.createdAt) ls.createdAt = st.createdAt;
    return ls;
  });
}

/** Named ports (grpc -> 9559) at the host addresses the runtime published them on. */
function publishedByName(
  names: Record<string, number>,
  published: readonly { guest: number; protocol: string; hostIp: string; hostPort: number }[],
): { name: string; address: string }[] {
  return Object.entries(names).flatMap(([name, guest]) =>
    published
      .filter((p) => p.guest === guest && p.protocol === "tcp" && !p.hostIp.includes(":"))
      .map((p) => ({ name, address: `${p.hostIp || "0.0.0.0"}:${p.hostPort}` })),
  );
}

/**
 * `kinda logs LAB DEVICE`: a programmable device's data-plane log (BMv2's output, ovs-vswitchd's
 * log), read in the device; for other devices, the output of their start-up steps.
 */
export async function logsOf(
  lab: string,
  device: string,
  opts: { follow?: boolean; runtime?: Runtime; store?: StateStore; stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream } = {},
): Promise<ExecResult> {
  const store = opts.store ?? defaultStore();
  const name = resolveLabName(lab, store);
  const st = store.read(name);
  const d = st?.devices.find((x) => x.name === device);
  // a node's smart NIC (NODE-nic): its data plane's log
  const logFile = d?.role?.logFile ?? st?.cluster?.nics?.find((x) => x.name === device)?.logFile;
  if (!d && !logFile) throw new KindaError(`no device ${device} in lab ${name}`, { hint: `kinda status ${name} lists its devices` });
  if (!logFile) {
    if (!d?.startup?.log || !existsSync(d.startup.log)) throw new KindaError(`${device} has no log: it ran no start-up steps`);
    const text = readFileSync(d.startup.log, "utf8");
    (opts.stdout ?? process.stdout).write(text);
    return { exitCode: 0, output: opts.stdout ? "" : text };
  }
  const runtime = opts.runtime ?? defaultRuntime();
  const c = await findDevice(device, name, { runtime, store });
  const argv = opts.follow ? ["tail", "-n", "+1", "-F", logFile] : ["cat", logFile];
  return runtime.exec(c.id, argv, { ...(opts.stdout ? { stdout: opts.stdout } : {}), ...(opts.stderr ? { stderr: opts.stderr } : {}) });
}

import { findDevice } from "./exec.js";
export { clusterNodes, execIn, findDevice, reverseName, whoIs, type ExecInOptions } from "./exec.js";

/** The graph of a lab that is up (by name), or of a topology source (by path). */
export async function graphFor(arg: string, store = defaultStore(), vars?: Record<string, string>): Promise<Graph> {
  // a path first: a path is never a lab name (the store refuses names with a slash)
  const st = existsSync(arg) ? undefined : store.read(arg);
  if (st) return graphFromState(st);
  const src = await loadSource(arg, { ...(vars ? { vars } : {}) });
  return src.type === "kathara" ? graphFromLab(src.defaultName, src.lab) : graphFromSpec(src.spec);
}
