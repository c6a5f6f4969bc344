/**
 * Experiments on a lab that is up, for the CLI and library users: change, cut, capture, watch
 * links; add and remove links and devices. The store, runtime and kernel come from the
 * composition root (app/root.ts) unless given; kept light: link changes, captures and counters
 * find PIDs with the light Engine API client, and the Docker runtime behind device add/remove is
 * loaded only when used, so `kinda link` stays one quick process.
 */
import * as engine from "../engine/live.js";
import type * as devices from "../engine/device-add.js";
import * as watch from "../engine/watch.js";
import type { Runtime } from "../model/container.js";
import type { StateStore } from "../state/store.js";
import type { Kernel } from "../model/kernel.js";
import { defaultKernel, defaultRuntime, defaultStore, kubeApiFor, lightRuntime } from "./root-light.js";
import type { KubeApi } from "../model/kube.js";

export { checkShaping, netemAvailable, type CaptureOptions, type LinkChange } from "../engine/live.js";
export { formatLinks, sampleLinks, withRates, type LinkCounters } from "../engine/watch.js";

type Given = { store?: StateStore; runtime?: Pick<Runtime, "inspect" | "exec">; kernel?: Kernel };
type Opts<T> = Omit<T, "store" | "runtime" | "kernel"> & Given;
/** The root's parts for what the caller did not give (the light client: PIDs, and a P4 switch's CLI for a re-route). */
const env = <T extends Given>(o: T) => ({
  ...o,
  kernel: o.kernel ?? defaultKernel(),
  store: o.store ?? defaultStore(),
  runtime: o.runtime ?? lightRuntime(),
});

export function liveStore(): StateStore {
  return defaultStore();
}
/** The host cluster's API of a lab on the Kubernetes runtime (undefined: a Docker lab); made by the root, loaded on demand. */
async function kubeOf(lab: string, store: StateStore): Promise<KubeApi | undefined> {
  const rec = store.read(lab)?.runtime;
  if (rec?.kind !== "kubernetes") return undefined;
  return kubeApiFor({ ...(rec.kubeconfig ? { kubeconfig: rec.kubeconfig } : {}), ...(rec.context ? { context: rec.context } : {}) });
}

/** Changes a link; with a cluster, the published NetworkTopology follows (app/k8s-topology.ts). */
export const changeLink = async (
  lab: string,
  endpoint: string,
  change: engine.LinkChange,
  o: Opts<engine.LiveOptions> & { kubeApi?: KubeApi } = {},
) => {
  const opts = env(o);
  const api = o.kubeApi ?? (await kubeOf(lab, opts.store));
  if (api) return (await import("../engine/kube-live.js")).changeKubeLink(lab, endpoint, change, { store: opts.store, api });
  const r = await engine.changeLink(lab, endpoint, change, opts);
  if (opts.store.read(lab)?.cluster) {
    const { publishTopology } = await import("./k8s-topology.js");
    const { createProviderRegistry } = await import("./root.js");
    const note = await publishTopology(lab, opts.store, createProviderRegistry());
    if (note) return { ...r, summary: `${r.summary}\n${note}` };
  }
  return r;
};
/** Adds a link; on the Kubernetes runtime a new VXLAN VNI between the two pods. */
export const addLink = async (lab: string, endpoint: string, o: Opts<engine.AddLinkOptions> & { kubeApi?: KubeApi } = {}) => {
  const opts = env(o);
  const api = o.kubeApi ?? (await kubeOf(lab, opts.store));
  if (!api) return engine.addLink(lab, endpoint, opts);
  const r = await (
    await import("../engine/kube-change.js")
  ).kubeAddLink(lab, endpoint, {
    api,
    store: opts.store,
    ...(o.addresses ? { addresses: o.addresses } : {}),
    ...(o.domain ? { domain: o.domain } : {}),
  });
  return { summary: r.summary };
};
export const removeLink = async (lab: string, endpoint: string, o: Opts<engine.LiveOptions> & { kubeApi?: KubeApi } = {}) => {
  const opts = env(o);
  const api = o.kubeApi ?? (await kubeOf(lab, opts.store));
  if (!api) return engine.removeLink(lab, endpoint, opts);
  return (await import("../engine/kube-change.js")).kubeRemoveLink(lab, endpoint, { api, store: opts.store });
};

type DeviceOpts = Partial<devices.AddDeviceOptions>;
const deviceEnv = (o: DeviceOpts): devices.AddDeviceOptions => ({
  ...o,
  kernel: o.kernel ?? defaultKernel(),
  store: o.store ?? defaultStore(),
  runtime: o.runtime ?? defaultRuntime(),
});
/** A device the lab's source defines is made as `up` makes it (links, start-up); any other, a bare container. */
export const addDevice = async (lab: string, name: string, o: DeviceOpts = {}) =>
  (await import("./device.js")).addDevice(lab, name, deviceEnv(o));
// loaded when used: engine/device-add.ts brings the lab engine and planner, which `kinda link` does not need
export const removeDevice = async (lab: string, name: string, o: DeviceOpts & { kubeApi?: KubeApi } = {}) => {
  const store = o.store ?? defaultStore();
  const api = o.kubeApi ?? (await kubeOf(lab, store));
  if (api) return (await import("../engine/kube-change.js")).kubeRemoveDevice(lab, name, { api, store });
  return (await import("../engine/device-add.js")).removeDevice(lab, name, deviceEnv(o));
};
export const captureArgv = (lab: string, endpoint: string, o: Opts<engine.CaptureOptions> = {}) =>
  engine.captureArgv(lab, endpoint, env(o));
/** Captures on a link; on the Kubernetes runtime tcpdump runs in the pod that holds it, until `signal` aborts (or the count). */
export const capture = async (
  lab: string,
  endpoint: string,
  o: Opts<engine.CaptureOptions> & { kubeApi?: KubeApi; signal?: AbortSignal } = {},
) => {
  const store = o.store ?? defaultStore();
  const api = o.kubeApi ?? (await kubeOf(lab, store));
  if (!api) return engine.capture(lab, endpoint, env(o));
  return (await import("../engine/kube-live.js")).kubeCapture(lab, endpoint, {
    store,
    api,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.write !== undefined ? { write: o.write } : {}),
    ...(o.count !== undefined ? { count: o.count } : {}),
    ...(o.filter ? { filter: o.filter } : {}),
  });
};
/** On the Kubernetes runtime, counters are read in the pods through their exec API. */
async function podExecOf(lab: string, store: StateStore, api?: KubeApi): Promise<{ exec?: watch.NsExec }> {
  const rec = store.read(lab)?.runtime;
  if (rec?.kind !== "kubernetes") return {};
  const a = api ?? (await kubeOf(lab, store))!;
  return { exec: (await import("../engine/kube-live.js")).podNsExec(a, rec.namespace) };
}
export const linkCounters = async (lab: string, o: Given & { seconds?: number; kubeApi?: KubeApi } = {}) => {
  const opts = env(o);
  return watch.linkCounters(lab, { ...opts, ...(await podExecOf(lab, opts.store, o.kubeApi)) });
};
const execByLab = new Map<string, Promise<{ exec?: watch.NsExec }>>();
/** Counters of one sample (the CLI's watch loop); PIDs from the light client unless given (pods' exec API on the Kubernetes runtime). */
export const sampleLinksNow = async (st: Parameters<typeof watch.sampleLinks>[0], pids: Map<string, number>, runtime = lightRuntime()) => {
  let e = execByLab.get(st.name);
  if (!e) execByLab.set(st.name, (e = podExecOf(st.name, defaultStore())));
  return watch.sampleLinks(st, { pids, runtime, ...(await e) });
};
