/**
 * Experiments on a lab that is up, for the CLI and library users: change, cut, capture, watch
 * links; add and remove links and devices. The state store defaults to $KINDA_STATE_DIR here (the
 * engine takes it passed in); kept light: no dockerode, so `kinda link` stays one quick process.
 */
import * as engine from "../engine/live.js";
import * as watch from "../engine/watch.js";
import { StateStore } from "../state/store.js";
import type { KubeApi } from "../model/kube.js";

export { checkShaping, netemAvailable, type CaptureOptions, type LinkChange } from "../engine/live.js";
export { formatLinks, sampleLinks, withRates, type LinkCounters } from "../engine/watch.js";

type Opts<T> = Omit<T, "store"> & { store?: StateStore };
const withStore = <T extends { store?: StateStore }>(o: T) => ({ ...o, store: o.store ?? new StateStore() });

export function liveStore(): StateStore {
  return new StateStore();
}
/** The host cluster's API of a lab on the Kubernetes runtime (undefined: a Docker lab); made by the root, loaded on demand. */
async function kubeOf(lab: string, store: StateStore): Promise<KubeApi | undefined> {
  const rec = store.read(lab)?.runtime;
  if (rec?.kind !== "kubernetes") return undefined;
  const { kubeApiFor } = await import("./root.js");
  return kubeApiFor({ ...(rec.kubeconfig ? { kubeconfig: rec.kubeconfig } : {}), ...(rec.context ? { context: rec.context } : {}) });
}

/** Changes a link; with a cluster, the published NetworkTopology follows (app/k8s-topology.ts). */
export const changeLink = async (
  lab: string,
  endpoint: string,
  change: engine.LinkChange,
  o: Opts<engine.LiveOptions> & { kubeApi?: KubeApi } = {},
) => {
  const opts = withStore(o);
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
export const addLink = (lab: string, endpoint: string, o: Opts<engine.AddLinkOptions> = {}) => engine.addLink(lab, endpoint, withStore(o));
export const removeLink = (lab: string, endpoint: string, o: Opts<engine.LiveOptions> = {}) =>
  engine.removeLink(lab, endpoint, withStore(o));
/** A device the lab's source defines is made as `up` makes it (links, start-up); any other, a bare container. */
export const addDevice = async (lab: string, name: string, o: Opts<engine.AddDeviceOptions> = {}) =>
  (await import("./device.js")).addDevice(lab, name, withStore(o));
export const removeDevice = (lab: string, name: string, o: Opts<engine.LiveOptions> = {}) => engine.removeDevice(lab, name, withStore(o));
export const captureArgv = (lab: string, endpoint: string, o: Opts<engine.CaptureOptions> = {}) =>
  engine.captureArgv(lab, endpoint, withStore(o));
/** Captures on a link; on the Kubernetes runtime tcpdump runs in the pod that holds it, until `signal` aborts (or the count). */
export const capture = async (
  lab: string,
  endpoint: string,
  o: Opts<engine.CaptureOptions> & { kubeApi?: KubeApi; signal?: AbortSignal } = {},
) => {
  const store = o.store ?? new StateStore();
  const api = o.kubeApi ?? (await kubeOf(lab, store));
  if (!api) return engine.capture(lab, endpoint, withStore(o));
  return (await import("../engine/kube-live.js")).kubeCapture(lab, endpoint, {
    store,
    api,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.write !== undefined ? { write: o.write } : {}),
    ...(o.count !== undefined ? { count: o.count } : {}),
    ...(o.filter ? { filter: o.filter } : {}),
  });
};
export const linkCounters = (lab: string, o: { store?: StateStore; seconds?: number } = {}) => watch.linkCounters(lab, withStore(o));
