/**
 * Experiments on a lab that is up, for the CLI and library users: change, cut, capture, watch
 * links; add and remove links and devices. The state store defaults to $KINDA_STATE_DIR here (the
 * engine takes it passed in); kept light: no dockerode, so `kinda link` stays one quick process.
 */
import * as engine from "../engine/live.js";
import * as watch from "../engine/watch.js";
import { StateStore } from "../state/store.js";

export { checkShaping, netemAvailable, type CaptureOptions, type LinkChange } from "../engine/live.js";
export { formatLinks, sampleLinks, withRates, type LinkCounters } from "../engine/watch.js";

type Opts<T> = Omit<T, "store"> & { store?: StateStore };
const withStore = <T extends { store?: StateStore }>(o: T) => ({ ...o, store: o.store ?? new StateStore() });

export function liveStore(): StateStore {
  return new StateStore();
}
/** Changes a link; with a cluster, the published NetworkTopology follows (app/k8s-topology.ts). */
export const changeLink = async (lab: string, endpoint: string, change: engine.LinkChange, o: Opts<engine.LiveOptions> = {}) => {
  const opts = withStore(o);
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
export const capture = (lab: string, endpoint: string, o: Opts<engine.CaptureOptions> = {}) => engine.capture(lab, endpoint, withStore(o));
export const linkCounters = (lab: string, o: { store?: StateStore; seconds?: number } = {}) => watch.linkCounters(lab, withStore(o));
