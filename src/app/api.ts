/** The library's front door for labs: load, plan, deploy, tear down, inspect, exec. */
import { KindaError } from "../core/errors.js";
import { existsSync, readFileSync } from "node:fs";
import { LABEL_DEVICE, LABEL_LAB, LABEL_MANAGED, MANAGED_VALUE, isValidLabName } from "../core/names.js";
import { formatPlan } from "../plan/lab.js";
import type { ContainerInfo, ExecResult, Runtime } from "../model/container.js";
import { CorruptStateError, type LabState, type NicState, type StateStore } from "../state/store.js";
import { teardown } from "../engine/lab.js";
import { loadSource, resolveLabPath } from "../topology/source.js";
import type { ProviderLookup } from "../model/provider.js";
import type { Kernel } from "../model/kernel.js";
import { createEnv, kubeApiFor } from "./root.js";
import type { KubeApi, KubePod } from "../model/kube.js";
import { kubeTeardown } from "../engine/kube-lab.js";
import { kubeTarget } from "./up.js";
import type { Reporter } from "../core/reporter.js";
import { graphFromLab, graphFromSpec, graphFromState, type Graph } from "./graph.js";

export { chooseRuntime, dryRun, planSource, up, Lab, type UpOptions, type TopologySource, type PlannedSource } from "./up.js";
export { formatPlan };
export { expandTopologyYaml } from "../topology/yaml.js";

/**
 * The lab a `down`/`status` argument means: the name of a lab on this machine, or else a path,
 * which means only a lab whose recorded source is that path (never one of the same base name
 * deployed from elsewhere).
 */
export function resolveLabName(arg: string, store = createEnv().store): string {
  const names = store.list();
  if (names.includes(arg)) return arg;
  if (!existsSync(arg)) return arg;
  const path = resolveLabPath(arg);
  const fromPath = names.filter((n) => store.readIfValid(n)?.source === path);
  if (fromPath.length === 1) return fromPath[0] as string;
  if (fromPath.length > 1)
    throw new KindaError(`several labs were deployed from ${path}: ${fromPath.join(", ")}`, { hint: "name one of them" });
  throw new KindaError(`no lab on this machine was deployed from ${path}`, {
    hint: "kinda status lists the labs and where each came from; name the lab instead (kinda down NAME)",
  });
}

/** Options of {@link down}. */
export interface DownOptions {
  /** Container runtime (default: Docker). */
  runtime?: Runtime;
  /** State store (default: $KINDA_STATE_DIR or /var/lib/kinda). */
  store?: StateStore;
  /** Told each step; default silent. */
  reporter?: Reporter;
  /** When the cluster cannot be removed, remove the network anyway and forget the cluster (`kinda down --force`). */
  forgetCluster?: boolean;
  /** Where the recorded cluster's provider is found (default: the composition root's registry). */
  providers?: ProviderLookup;
  /** A lab on the Kubernetes runtime: its host cluster's API (default: made from the kubeconfig and context its state records). */
  kubeApi?: KubeApi;
  /** The kernel adapter (default: the host's). */
  kernel?: Kernel;
}

/**
 * Takes a lab down (`kinda down`): its cluster, containers, links, namespace and state. Works
 * after a crashed deploy too, and is idempotent. `nameOrPath` is a lab name, or the path it was
 * deployed from.
 */
export async function down(nameOrPath: string, opts: DownOptions = {}) {
  const { store } = createEnv({ store: opts.store });
  const name = resolveLabName(nameOrPath, store);
  // the state says which runtime the lab is on (recorded before anything was created); an unreadable state is teardown's to refuse or force
  const rec = store.readIfValid(name)?.runtime;
  if (rec?.kind === "kubernetes")
    return kubeTeardown(name, {
      api: opts.kubeApi ?? (await kubeApiFor(kubeTarget(rec))),
      store,
      ...(opts.reporter ? { reporter: opts.reporter } : {}),
    });
  const { runtime, kernel, providers } = createEnv({ runtime: opts.runtime, store, providers: opts.providers, kernel: opts.kernel });
  return teardown(name, {
    runtime,
    store,
    kernel,
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
    ...(opts.forgetCluster ? { forgetCluster: true } : {}),
    providers,
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
  /** On the Kubernetes runtime: the host node that runs its pod. */
  node?: string;
}

export interface LabStatus {
  name: string;
  /** "orphaned": containers without a state; "unreadable": a state file that cannot be read (warnings say why and what to do). */
  phase: LabState["phase"] | "orphaned" | "unreadable";
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
  /** On the Kubernetes runtime (absent: Docker): its namespace (`netns` names it too) and context. */
  runtime?: { kind: "kubernetes"; namespace: string; context?: string };
}

/** A device known only by its container (no state, or an unreadable one). */
function containerOnlyStatus(c: ContainerInfo): DeviceStatus {
  return {
    name: c.labels[LABEL_DEVICE] ?? c.name,
    container: c.name,
    image: c.image,
    running: c.running,
    interfaces: [],
    startup: "unknown",
  };
}

function startupText(d: LabState["devices"][number], st?: LabState): string {
  // a lab Kathara started: Kathara ran its start-ups, and kinda has no record of them
  if (!d.startup) return st?.external ? `not kinda's (${st.external.manager}'s device)` : "pending";
  if (d.startup.status !== "failed") return d.startup.status;
  return `failed at ${d.startup.failedStep} (${d.startup.timedOut ? `stopped after ${d.startup.timedOut} s` : `exit ${d.startup.exitCode}`})`;
}

/** A lab on the Kubernetes runtime: its devices' pods (running or not, and on which host node); pods undefined: the cluster did not answer. */
function kubeStatus(st: LabState, pods: KubePod[] | undefined): LabStatus {
  const devices = st.devices.map((d): DeviceStatus => {
    const p = pods?.find((x) => x.name === (d.pod?.name ?? d.container));
    const s: DeviceStatus = {
      name: d.name,
      container: d.pod?.name ?? d.container,
      image: d.image,
      running: p?.phase === "Running",
      interfaces: d.interfaces.map((i) => ({ name: i.name, domain: i.domain, ...(i.mac ? { mac: i.mac } : {}) })),
      startup: startupText(d),
    };
    const node = p?.node || d.pod?.node;
    if (node) s.node = node;
    if (d.startup?.log) s.startupLog = d.startup.log;
    return s;
  });
  const rt = st.runtime!;
  const ls: LabStatus = {
    name: st.name,
    phase: st.phase,
    netns: rt.namespace,
    netnsPresent: pods !== undefined && pods.length > 0,
    devices,
    warnings: st.warnings,
    createdAt: st.createdAt,
    runtime: { kind: "kubernetes", namespace: rt.namespace, ...(rt.context ? { context: rt.context } : {}) },
  };
  if (st.source) ls.source = st.source;
  if (st.live && (st.live.cuts.length || st.live.shaping.length)) ls.live = st.live;
  return ls;
}

/** The pods of each lab on the Kubernetes runtime among names, from the host cluster its state names (undefined: no answer). */
async function kubePodsOf(names: string[], store: StateStore, kubeApi?: KubeApi): Promise<Map<string, KubePod[] | undefined>> {
  const out = new Map<string, KubePod[] | undefined>();
  for (const n of names) {
    const rec = store.readIfValid(n)?.runtime;
    if (rec?.kind !== "kubernetes") continue;
    const api = kubeApi ?? (await kubeApiFor(kubeTarget(rec)));
    out.set(n, await api.pods(rec.namespace).catch(() => undefined));
  }
  return out;
}

export async function status(
  name?: string,
  opts: { runtime?: Runtime; store?: StateStore; kubeApi?: KubeApi; kernel?: Kernel } = {},
): Promise<LabStatus[]> {
  const { store, runtime, kernel } = createEnv({ store: opts.store, runtime: opts.runtime, kernel: opts.kernel });
  const all = await runtime.list({ [LABEL_MANAGED]: MANAGED_VALUE });
  // labs kinda attached to (Kathara's): their containers carry Kathara's labels, not kinda's
  const kathara = await runtime.list({ app: "kathara" });
  const names = name
    ? [resolveLabName(name, store)]
    : // a container of someone else's may carry any kinda.lab label: only lab names count
      [...new Set([...store.list(), ...all.map((c) => c.labels[LABEL_LAB] ?? "")])].filter(isValidLabName).sort();
  const kubePods = await kubePodsOf(names, store, opts.kubeApi);
  return names.map((n): LabStatus => {
    const mine = all.filter((c) => c.labels[LABEL_LAB] === n);
    let st: LabState | undefined;
    try {
      st = store.read(n);
    } catch (e) {
      if (!(e instanceof CorruptStateError)) throw e;
      return unreadableStatus(n, e, mine, kernel);
    }
    if (st?.runtime?.kind === "kubernetes") return kubeStatus(st, kubePods.get(n));
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
            startup: startupText(d, st),
          };
          if (d.startup?.log) s.startupLog = d.startup.log;
          if (d.role) {
            s.kind = d.role.kind;
            const pub = publishedByName(d.role.portNames ?? {}, c?.published ?? []);
            if (pub.length) s.published = pub;
          }
          return s;
        })
      : mine.map(containerOnlyStatus);
    const ls: LabStatus = {
      name: n,
      phase: st ? st.phase : "orphaned",
      netns: st?.netns ?? `kinda-${n}`,
      netnsPresent: kernel.netnsExists(st?.netns ?? `kinda-${n}`),
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

/** A lab whose state file cannot be read: shown as such, with the way out (one bad file must not hide the other labs). */
function unreadableStatus(n: string, e: CorruptStateError, mine: readonly ContainerInfo[], kernel: Kernel): LabStatus {
  return {
    name: n,
    phase: "unreadable",
    netns: `kinda-${n}`,
    netnsPresent: kernel.netnsExists(`kinda-${n}`),
    devices: mine.map(containerOnlyStatus),
    warnings: [e.message, e.hint ?? ""],
  };
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
  const { store, runtime } = createEnv({ store: opts.store, runtime: opts.runtime });
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
  const c = await findDevice(device, name, { runtime, store });
  const argv = opts.follow ? ["tail", "-n", "+1", "-F", logFile] : ["cat", logFile];
  return runtime.exec(c.id, argv, { ...(opts.stdout ? { stdout: opts.stdout } : {}), ...(opts.stderr ? { stderr: opts.stderr } : {}) });
}

import { findDevice } from "./exec.js";
export { clusterNodes, execIn, findDevice, reverseName, whoIs, type ExecInOptions } from "./exec.js";

/** The graph of a lab that is up (by name), or of a topology source (by path). */
export async function graphFor(arg: string, store = createEnv().store, vars?: Record<string, string>): Promise<Graph> {
  // a path first: a path is never a lab name (the store refuses names with a slash)
  const st = existsSync(arg) ? undefined : store.read(arg);
  if (st) return graphFromState(st);
  const src = await loadSource(arg, { ...(vars ? { vars } : {}) });
  return src.type === "kathara" ? graphFromLab(src.defaultName, src.lab) : graphFromSpec(src.spec);
}
