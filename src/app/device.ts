/**
 * A device of a running lab made from the lab's source: `kinda device LAB NAME add` when the source
 * defines NAME (see engine/device-add.ts), and the planning `kinda restart LAB DEVICE` shares.
 */
import { KindaError } from "../core/errors.js";
import { addPlannedDevice, addDevice as addBareDevice, newDeviceLab, type AddDeviceOptions } from "../engine/device-add.js";
import type { Plan } from "../plan/lab.js";
import type { LabState, StateStore } from "../state/store.js";
import { planSource } from "./up.js";
import { kubeApiFor } from "./root-light.js";

export interface SourcePlan {
  plan: Plan;
  kathara: boolean;
  /** Devices the source links Kubernetes nodes to (their node links are the cluster's, not the lab's). */
  nodeLinked: Set<string>;
}

/** The lab's source, planned as `up` planned it (same name, image map, recorded options, state folders). */
export async function planLabSource(st: LabState, store: StateStore): Promise<SourcePlan> {
  if (!st.source) throw new KindaError(`lab ${st.name} was built through the API, not from a file: it has no source to read devices from`);
  const p = await planSource(st.source, { ...st.upOptions, name: st.name, imageMap: st.imageMap ?? {}, store });
  const nodeLinks = p.topology?.compiled.nodeLinks ?? [];
  return { plan: p.plan, kathara: p.format === "kathara", nodeLinked: new Set(nodeLinks.flatMap((l) => (l.device ? [l.device] : []))) };
}

/**
 * `kinda device LAB NAME add`: when the lab's source defines NAME, the device as `up` makes it
 * (links, files, start-up; rolled back if any of it fails); otherwise a bare container.
 */
export async function addDevice(lab: string, name: string, opts: AddDeviceOptions): Promise<string> {
  const st = newDeviceLab(lab, name, opts.store);
  const src = st.source ? await planLabSource(st, opts.store) : undefined;
  const dev = src?.plan.devices.find((d) => d.name === name);
  const rec = st.runtime;
  if (rec?.kind === "kubernetes") {
    // a pod is made whole from its plan: a device the source does not define has none
    if (!src || !dev)
      throw new KindaError(
        `NAME ${name}: on the Kubernetes runtime a device is added from the lab's source, and ${st.source ?? "this lab's source"} does not define ${name}`,
        { hint: "define it in the source (lab.conf or the YAML), then kinda device LAB NAME add" },
      );
    if (opts.image) dev.image = opts.imageMap?.[opts.image] ?? opts.image;
    const api = await kubeApiFor({
      ...(rec.kubeconfig ? { kubeconfig: rec.kubeconfig } : {}),
      ...(rec.context ? { context: rec.context } : {}),
    });
    return (await import("../engine/kube-change.js")).kubeAddDevice(st, src.plan, dev, { api, store: opts.store });
  }
  if (!src || !dev) return addBareDevice(lab, name, opts);
  if (src.nodeLinked.has(name))
    throw new KindaError(
      `NAME ${name}: ${st.source} links Kubernetes nodes to it; those links are made with the cluster (kinda restart ${lab})`,
    );
  if (opts.image) dev.image = opts.imageMap?.[opts.image] ?? opts.image;
  return addPlannedDevice(st, src.plan, dev, { store: opts.store, runtime: opts.runtime, kernel: opts.kernel, source: st.source! });
}
